//! `cargo xtask new job NAME` and `cargo xtask new route METHOD PATH`: the
//! files a new job kind or route needs, their registration lines, and a
//! test that fails until it is written. Each prints what it wrote.
//!
//! They work on the workspace around the current directory, not the one
//! xtask was built from, so a test can run them in a scratch copy
//! (`tests/new.rs`).

mod edit;
mod job;
mod route;

use std::path::{Path, PathBuf};

use anyhow::Context;

pub use job::job;
pub use route::route;

/// What a generator did, for the developer to read and review.
#[derive(Debug, Default)]
struct Changes {
    root: PathBuf,
    written: Vec<PathBuf>,
    /// (file, line added)
    added: Vec<(PathBuf, String)>,
}

impl Changes {
    fn at(root: PathBuf) -> Self {
        Self {
            root,
            ..Self::default()
        }
    }

    /// Writes a new file; refuses to overwrite one.
    fn write(&mut self, relative: &str, contents: &str) -> anyhow::Result<()> {
        let path = self.root.join(relative);
        anyhow::ensure!(!path.exists(), "{relative} exists already");
        std::fs::write(&path, contents).with_context(|| relative.to_owned())?;
        self.written.push(relative.into());
        Ok(())
    }

    /// Applies `edit` to a file, and records the lines it added.
    fn edit(
        &mut self,
        relative: &str,
        edit: impl FnOnce(&str) -> anyhow::Result<(String, Vec<String>)>,
    ) -> anyhow::Result<()> {
        let path = self.root.join(relative);
        let text = std::fs::read_to_string(&path).with_context(|| relative.to_owned())?;
        let (edited, lines) = edit(&text).with_context(|| format!("registering in {relative}"))?;
        std::fs::write(&path, edited).with_context(|| relative.to_owned())?;
        self.added
            .extend(lines.into_iter().map(|line| (relative.into(), line)));
        Ok(())
    }

    /// rustfmt over every file written or edited, so the new lines sit in
    /// the order and shape the rest of the file has.
    fn format(&self) -> anyhow::Result<()> {
        let mut files: Vec<&PathBuf> = self.written.iter().collect();
        files.extend(self.added.iter().map(|(path, _)| path));
        files.dedup();
        let status = std::process::Command::new("rustfmt")
            .args(["--edition", "2024"])
            .args(files)
            .current_dir(&self.root)
            .status()
            .context("rustfmt")?;
        anyhow::ensure!(status.success(), "rustfmt failed: {status}");
        Ok(())
    }

    fn print(&self, next: &str) {
        println!("wrote:");
        for path in &self.written {
            println!("  {}", path.display());
        }
        println!("added:");
        for (path, line) in &self.added {
            println!("  {}: {}", path.display(), line.trim());
        }
        println!("next: {next}");
    }
}

/// The workspace the developer stands in: the nearest directory up from
/// here with the template's crates.
fn workspace_root() -> anyhow::Result<PathBuf> {
    let here = std::env::current_dir()?;
    here.ancestors()
        .find(|dir| is_workspace(dir))
        .map(Path::to_path_buf)
        .with_context(|| format!("no workspace with crates/domain above {}", here.display()))
}

fn is_workspace(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file() && dir.join("crates/domain").is_dir()
}

/// `refund_order` → `RefundOrder`.
fn camel_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// A name that is a Rust identifier, a file name and a `jobs.kind` at once.
fn check_snake_case(what: &str, name: &str) -> anyhow::Result<()> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__");
    anyhow::ensure!(
        valid,
        "{what} `{name}` must be snake_case: lowercase letters, digits and single underscores"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_types_and_bad_names_are_refused() {
        assert_eq!(camel_case("refund_order"), "RefundOrder");
        assert_eq!(camel_case("sync2_ledger"), "Sync2Ledger");
        assert!(check_snake_case("job", "refund_order").is_ok());
        for bad in ["RefundOrder", "refund-order", "_x", "x_", "a__b", "2fa", ""] {
            assert!(check_snake_case("job", bad).is_err(), "{bad}");
        }
    }
}
