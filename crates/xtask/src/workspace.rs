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

/// The cargo that runs us, so a toolchain override applies all the way down.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// Builds these binaries (debug profile) into `target_dir()/debug`, and
/// returns cargo's exit code.
pub async fn build_bins(bins: &[&str], signals: &mut Signals) -> anyhow::Result<u8> {
    let mut build = cargo();
    build.arg("build");
    for bin in bins {
        build.args(["--bin", bin]);
    }
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
