//! `cargo xtask drill [--debug] [--upgrade-from REV] [-- ARGS…]`: the
//! rolling-restart drill in local mode, against a throwaway PostgreSQL (or
//! `DATABASE_URL`), with freshly built `api`, `worker` and `drill`; with
//! `--upgrade-from`, an upgrade from the build of git revision REV. ARGS go
//! to `drill local` (see its --help); the verdict is in
//! `target/drill/report.json`.
//!
//! Release builds unless `--debug`: nobody load-tests a debug build, whose
//! latency, steady and inside rollouts, is several times a release build's
//! (docs/benchmarks.md, "Latency through a rollout").

use tokio::process::Command;

use crate::children::Signals;
use crate::with_db::run_with_database;
use crate::workspace::{self, Profile};

/// With `upgrade_from` (a git revision), an upgrade drill: the pods start
/// on that revision's build, release N, and roll to the current one. Both
/// releases are built in `profile`.
pub async fn run(
    profile: Profile,
    upgrade_from: Option<&str>,
    extra_args: &[String],
    signals: &mut Signals,
) -> anyhow::Result<u8> {
    let release_n = match upgrade_from {
        Some(rev) => Some(crate::upgrade::release_binaries(rev, profile, signals).await?),
        None => None,
    };
    let build = workspace::build_bins(&["api", "worker", "drill"], profile, signals).await?;
    if build != 0 {
        return Ok(build);
    }
    let bin = workspace::target_dir().join(profile.dir());
    let mut drill = Command::new(bin.join("drill"));
    drill
        .current_dir(workspace::root())
        .arg("local")
        .arg("--api-bin")
        .arg(bin.join("api"))
        .arg("--worker-bin")
        .arg(bin.join("worker"));
    if let Some((api, worker)) = release_n {
        drill
            .arg("--upgrade-from-api-bin")
            .arg(api)
            .arg("--upgrade-from-worker-bin")
            .arg(worker);
    }
    drill.args(extra_args);
    run_with_database("drill", &mut drill, signals).await
}
