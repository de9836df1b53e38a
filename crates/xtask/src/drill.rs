//! `cargo xtask drill [ARGS…]`: the rolling-restart drill in local mode,
//! against a throwaway PostgreSQL (or `DATABASE_URL`), with freshly built
//! `api`, `worker` and `drill`. ARGS go to `drill local` (see its --help);
//! the verdict is in `target/drill/report.json`.

use tokio::process::Command;

use crate::children::{Signals, run_forwarding};
use crate::pg::{DataDir, Database};
use crate::workspace;

pub async fn run(extra_args: &[String], signals: &mut Signals) -> anyhow::Result<u8> {
    let build = run_forwarding(
        "build",
        workspace::cargo().args(["build", "--bin", "api", "--bin", "worker", "--bin", "drill"]),
        signals,
    )
    .await?;
    if build != 0 {
        return Ok(build);
    }
    let database = Database::from_env_or_start(DataDir::Throwaway).await?;
    let bin = workspace::target_dir().join("debug");
    let mut drill = Command::new(bin.join("drill"));
    drill
        .current_dir(workspace::root())
        .arg("local")
        .arg("--api-bin")
        .arg(bin.join("api"))
        .arg("--worker-bin")
        .arg(bin.join("worker"))
        .args(extra_args)
        .env("DATABASE_URL", database.url());
    let code = run_forwarding("drill", &mut drill, signals).await;
    database.stop()?;
    code
}
