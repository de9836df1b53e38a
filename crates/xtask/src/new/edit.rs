//! Adding a line to a source file at the place its kind of line lives,
//! found by the lines already there. When the place cannot be found the
//! generator stops before writing anything it cannot register, naming the
//! line to add by hand.

/// Adds `line` after the first run of lines that start with `prefix`
/// (after indentation): after the last `mod` line, the last `pub use`. A
/// statement rustfmt wrapped over several lines counts as one.
pub fn after_run(text: &str, prefix: &str, line: &str) -> anyhow::Result<String> {
    let mut offset = 0;
    let mut run_end = None;
    let mut open_braces = 0_i32;
    for existing in text.split_inclusive('\n') {
        let continues = open_braces > 0;
        if continues || existing.trim_start().starts_with(prefix) {
            open_braces += existing.matches('{').count() as i32;
            open_braces -= existing.matches('}').count() as i32;
            run_end = Some(offset + existing.len());
        } else if run_end.is_some() {
            break;
        }
        offset += existing.len();
    }
    let at = run_end
        .ok_or_else(|| anyhow::anyhow!("no line starts with `{prefix}`; add `{line}` by hand"))?;
    Ok(format!("{}{line}\n{}", &text[..at], &text[at..]))
}

/// Adds `line` before the first line equal to `closing` after `opening`:
/// the last entry of a list, an arm of a `match`.
pub fn before_closing(
    text: &str,
    opening: &str,
    closing: &str,
    line: &str,
) -> anyhow::Result<String> {
    let start = text
        .find(opening)
        .ok_or_else(|| anyhow::anyhow!("cannot find `{opening}`; add `{line}` by hand"))?;
    let mut offset = start;
    for existing in text[start..].split_inclusive('\n') {
        if existing.trim_end_matches('\n') == closing {
            return Ok(format!("{}{line}\n{}", &text[..offset], &text[offset..]));
        }
        offset += existing.len();
    }
    anyhow::bail!("cannot find the end of `{opening}`; add `{line}` by hand")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_after_their_kind_and_before_the_closing_line() {
        let text =
            "mod a;\nmod b;\n\nfn f() {\n    match k {\n        A => 1,\n    }\n}\nmod tests {}\n";
        assert_eq!(
            after_run(text, "mod ", "mod c;").unwrap(),
            "mod a;\nmod b;\nmod c;\n\nfn f() {\n    match k {\n        A => 1,\n    }\n}\nmod tests {}\n"
        );
        let wrapped = "pub use a::{\n    B, C,\n};\npub use d::E;\n\nfn f() {}\n";
        assert_eq!(
            after_run(wrapped, "pub use ", "pub use x::Y;").unwrap(),
            "pub use a::{\n    B, C,\n};\npub use d::E;\npub use x::Y;\n\nfn f() {}\n"
        );
        assert_eq!(
            before_closing(text, "match k {", "    }", "        C => 3,").unwrap(),
            "mod a;\nmod b;\n\nfn f() {\n    match k {\n        A => 1,\n        C => 3,\n    }\n}\nmod tests {}\n"
        );
        assert!(after_run(text, "pub use ", "x").is_err());
        assert!(before_closing(text, "match k {", "  ]", "x").is_err());
    }
}
