//! `cargo xtask with-db -- CMD…`: any command, with `DATABASE_URL` pointing
//! at a PostgreSQL that lives exactly as long as the command.

use tokio::process::Command;

use crate::children::{Signals, run_forwarding};
use crate::pg::{DataDir, Database};

pub async fn run(command: &[String], signals: &mut Signals) -> anyhow::Result<u8> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("with-db needs a command"))?;
    let mut child = Command::new(program);
    child.args(args);
    run_with_database(program, &mut child, signals).await
}

/// Runs `child` (its output prefixed with `name`) with `DATABASE_URL` set,
/// and stops a PostgreSQL started for it afterwards, whatever the outcome.
pub async fn run_with_database(
    name: &str,
    child: &mut Command,
    signals: &mut Signals,
) -> anyhow::Result<u8> {
    let database = Database::from_env_or_start(DataDir::Throwaway).await?;
    child.env("DATABASE_URL", database.url());
    let code = run_forwarding(name, child, signals).await;
    database.stop()?;
    code
}
