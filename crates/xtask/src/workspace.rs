//! Paths and the cargo command, as every xtask command sees them.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::children::{Signals, run_forwarding};

pub fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// The cargo that runs us, so a toolchain override applies all the way
/// down, with the environment the developer's shell gave `cargo xtask`.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    forget_cargo_run_env(command.as_std_mut());
    command
}

/// Removes the variables `cargo run` (and `cargo test`) set for the program
/// they start, so that a cargo started from there sees the developer's
/// environment, not xtask's.
///
/// Build scripts such as ring's declare `rerun-if-env-changed` on several of
/// them (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, …), and cargo compares a
/// build script's declared variables with its *own* environment. Inherited,
/// they read `xtask` where a plain `cargo` sees nothing, so the outer
/// `cargo run -p xtask` and the inner `cargo build` each found ring's
/// fingerprint stale: every `cargo xtask dev` rebuilt ring and the dozen
/// crates above it, twice.
pub fn forget_cargo_run_env(command: &mut std::process::Command) {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let set_by_cargo = key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                key,
                "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "OUT_DIR"
            );
        if set_by_cargo {
            command.env_remove(key);
        }
    }
}

/// Cargo's two built-in profiles, and where each puts its binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Fast to build: `cargo xtask dev`, and a drill run with `--debug`.
    Debug,
    /// What users deploy, so what a drill load-tests by default.
    Release,
}

impl Profile {
    /// The directory under a target dir, which is also the profile's name.
    pub fn dir(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Release => "release",
        }
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            Self::Debug => &[],
            Self::Release => &["--release"],
        }
    }
}

/// `cargo build` of these binaries in `profile`, not yet run, for a caller
/// to point at another source or target dir.
pub fn build_command(bins: &[&str], profile: Profile) -> Command {
    let mut build = cargo();
    build.arg("build").args(profile.args());
    for bin in bins {
        build.args(["--bin", bin]);
    }
    build
}

/// Builds these binaries into `target_dir()/<profile>`, and returns cargo's
/// exit code.
pub async fn build_bins(
    bins: &[&str],
    profile: Profile,
    signals: &mut Signals,
) -> anyhow::Result<u8> {
    let mut build = build_command(bins, profile);
    run_forwarding("build", &mut build, signals).await
}

pub fn has_nextest() -> bool {
    std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
