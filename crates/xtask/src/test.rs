//! `cargo xtask test`: every test of the workspace against a real
//! PostgreSQL, which is started for the run unless `DATABASE_URL` names one.

use crate::children::{Signals, run_forwarding};
use crate::pg::{DataDir, Database};
use crate::workspace;

pub async fn run(extra_args: &[String], signals: &mut Signals) -> anyhow::Result<u8> {
    let database = Database::from_env_or_start(DataDir::Throwaway).await?;
    let code = run_tests(database.url(), extra_args, signals).await;
    database.stop()?;
    code
}

/// nextest runs each test in its own process, so one test's stuck child
/// cannot hang the rest; it does not run doctests, so those run after.
async fn run_tests(url: &str, extra_args: &[String], signals: &mut Signals) -> anyhow::Result<u8> {
    let (mut tests, doctests) = if workspace::has_nextest() {
        let mut nextest = workspace::cargo();
        nextest.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
        let mut doc = workspace::cargo();
        doc.args(["test", "--workspace", "--doc"]);
        (nextest, Some(doc))
    } else {
        let mut test = workspace::cargo();
        test.args(["test", "--workspace", "--no-fail-fast"]);
        (test, None)
    };
    tests.args(extra_args).env("DATABASE_URL", url);
    let code = run_forwarding("tests", &mut tests, signals).await?;
    if code != 0 || !extra_args.is_empty() {
        return Ok(code);
    }
    match doctests {
        Some(mut doc) => {
            doc.env("DATABASE_URL", url);
            run_forwarding("doctests", &mut doc, signals).await
        }
        None => Ok(code),
    }
}
