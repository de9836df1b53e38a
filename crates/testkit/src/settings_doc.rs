//! A document's settings table against what a binary's `--help` lists, so
//! a setting added to the code cannot go undocumented for users.

/// The settings `bin help_args…` names (`[env: NAME=…]` or `[env: NAME]`)
/// that the tables of `doc` (a path from the workspace root) lack as a
/// `` `NAME` `` cell.
pub fn settings_missing_from_doc(bin: &str, help_args: &[&str], doc: &str) -> Vec<String> {
    let output = std::process::Command::new(bin)
        .args(help_args)
        .output()
        .unwrap_or_else(|error| panic!("{bin} {help_args:?}: {error}"));
    assert!(output.status.success(), "{bin} {help_args:?} failed");
    let help = String::from_utf8_lossy(&output.stdout);
    let settings = env_settings(&help);
    assert!(
        !settings.is_empty(),
        "{bin} {help_args:?} names no setting:\n{help}"
    );
    let path = crate::repo_root().join(doc);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let table: Vec<&str> = text.lines().filter(|line| line.starts_with('|')).collect();
    settings
        .into_iter()
        .filter(|setting| {
            let cell = format!("`{setting}`");
            !table.iter().any(|row| row.contains(&cell))
        })
        .collect()
}

fn env_settings(help: &str) -> Vec<String> {
    help.split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::env_settings;

    #[test]
    fn env_names_are_read_with_and_without_a_value() {
        let help = "  --listen <LISTEN_ADDR>  [env: LISTEN_ADDR=0.0.0.0:8080]\n\
                    --url <DATABASE_URL>  [env: DATABASE_URL]\n";
        assert_eq!(env_settings(help), ["LISTEN_ADDR", "DATABASE_URL"]);
    }
}
