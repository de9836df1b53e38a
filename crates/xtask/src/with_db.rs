//! `cargo xtask with-db -- CMD…`: any command, with `DATABASE_URL` pointing
//! at a PostgreSQL that lives exactly as long as the command.

use tokio::process::Command;

use crate::children::{Signals, run_forwarding};
use crate::pg::{DataDir, Database};

pub async fn run(command: &[String], signals: &mut Signals) -> anyhow::Result<u8> {
    let database = Database::from_env_or_start(DataDir::Throwaway).await?;
    let (program, args) = command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("with-db needs a command"))?;
    let mut child = Command::new(program);
    child.args(args).env("DATABASE_URL", database.url());
    let code = run_forwarding(program, &mut child, signals).await;
    database.stop()?;
    code
}
