//! `cargo xtask drill [ARGS…]`: the rolling-restart drill in local mode,
//! against a throwaway PostgreSQL (or `DATABASE_URL`), with freshly built
//! `api`, `worker` and `drill`. ARGS go to `drill local` (see its --help);
//! the verdict is in `target/drill/report.json`.

use tokio::process::Command;

use crate::children::Signals;
use crate::with_db::run_with_database;
use crate::workspace;

pub async fn run(extra_args: &[String], signals: &mut Signals) -> anyhow::Result<u8> {
    let build = workspace::build_bins(&["api", "worker", "drill"], signals).await?;
    if build != 0 {
        return Ok(build);
    }
    let bin = workspace::target_dir().join("debug");
    let mut drill = Command::new(bin.join("drill"));
    drill
        .current_dir(workspace::root())
        .arg("local")
        .arg("--api-bin")
        .arg(bin.join("api"))
        .arg("--worker-bin")
        .arg(bin.join("worker"))
        .args(extra_args);
    run_with_database("drill", &mut drill, signals).await
}
