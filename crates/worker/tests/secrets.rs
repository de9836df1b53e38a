//! A job whose panic quotes a secret leaves it out of `last_error`, which
//! people and tools read. The secrets are read from the environment once,
//! so the test runs again in a process of its own that is given
//! `PGPASSWORD`.

use domain::Noop;
use testkit::TestDb;
use worker::testing::work;
use worker::{Done, JobContext, JobError, JobHandler};

const SECRET: &str = "job-s3cret-pw";

/// Panics quoting the password, as a handler that formats its client's
/// config or error would.
#[derive(Debug, Clone)]
struct PanicsQuotingTheDatabasePassword;

impl JobHandler for PanicsQuotingTheDatabasePassword {
    type Job = Noop;

    async fn run(&self, _job: Noop, _ctx: JobContext) -> Result<Done, JobError> {
        panic!(
            "the client failed with password {}",
            std::env::var("PGPASSWORD").unwrap_or_default()
        )
    }
}

#[tokio::test]
async fn a_job_whose_panic_quotes_a_secret_stores_it_redacted() {
    let Ok(secret) = std::env::var("PGPASSWORD") else {
        let this_test = "a_job_whose_panic_quotes_a_secret_stores_it_redacted";
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", this_test, "--nocapture"])
            .env("PGPASSWORD", SECRET)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    };
    let db = TestDb::new().await;
    let worked = work(&db.pool, PanicsQuotingTheDatabasePassword, &Noop {}).await;
    let error = worked.last_error.expect("the panic is kept");
    assert!(error.contains("panicked"), "{error}");
    assert!(error.contains("<redacted>"), "{error}");
    assert!(!error.contains(&secret), "{error}");
}
