//! Release N for an upgrade drill: the `api` and `worker` of an earlier
//! commit, built as a user's previous release would have been.
//!
//! The source comes out of git (`git archive`), so no worktree or branch is
//! left behind. It builds into a target dir of its own,
//! `target/upgrade-from/target`, kept between runs: Cargo names the
//! workspace's own crates alike whatever their source path, so in the
//! current build's target dir the two releases would overwrite each other's
//! `queue`, `service`… and one could end up linked against the other's. Its
//! binaries are copied to `target/upgrade-from/<commit>-<profile>/`, and a
//! commit already built there is not built again.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, bail};

use crate::children::{Signals, run_forwarding};
use crate::workspace::{self, Profile};

/// Release N's `(api, worker)`, built from `rev` in `profile` if not built
/// before.
pub async fn release_binaries(
    rev: &str,
    profile: Profile,
    signals: &mut Signals,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let commit = resolve(rev)?;
    let out = workspace::target_dir().join("upgrade-from").join(format!(
        "{}-{}",
        &commit[..12],
        profile.dir()
    ));
    let (api, worker) = (out.join("api"), out.join("worker"));
    if api.is_file() && worker.is_file() {
        eprintln!("xtask: release N is {commit}, built before");
        return Ok((api, worker));
    }
    eprintln!("xtask: building release N from {commit}");
    let source = out.join("source");
    if source.exists() {
        std::fs::remove_dir_all(&source)?;
    }
    std::fs::create_dir_all(&source)?;
    extract(&commit, &source)?;

    let target = workspace::target_dir().join("upgrade-from").join("target");
    let mut build = workspace::build_command(&["api", "worker"], profile);
    build.current_dir(&source).env("CARGO_TARGET_DIR", &target);
    let code = run_forwarding("build N", &mut build, signals).await?;
    if code != 0 {
        bail!("release N ({commit}) did not build");
    }
    let built = target.join(profile.dir());
    std::fs::copy(built.join("api"), &api)?;
    std::fs::copy(built.join("worker"), &worker)?;
    std::fs::remove_dir_all(&source)?;
    Ok((api, worker))
}

/// The full commit id `rev` names, or why not.
fn resolve(rev: &str) -> anyhow::Result<String> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("{rev}^{{commit}}"))
        .current_dir(workspace::root())
        .output()
        .context("cannot run git")?;
    if !output.status.success() {
        bail!("--upgrade-from {rev}: no such commit in this clone's history");
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// Writes the tree of `commit` into `dir`.
fn extract(commit: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let mut archive = std::process::Command::new("git")
        .args(["archive", "--format=tar", commit])
        .current_dir(workspace::root())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run git archive")?;
    let unpacked = std::process::Command::new("tar")
        .args(["-x", "-C"])
        .arg(dir)
        .stdin(archive.stdout.take().context("git archive's output")?)
        .status()
        .context("cannot run tar")?;
    if !archive.wait()?.success() || !unpacked.success() {
        bail!("cannot unpack {commit} into {}", dir.display());
    }
    Ok(())
}
