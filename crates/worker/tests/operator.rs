//! `worker jobs`, the operator's CLI, as a person runs it: the real binary
//! against a real PostgreSQL, and a real worker for a cancel of a running
//! job.

use std::process::Output;
use std::time::Duration;

use domain::Noop;
use queue::NewJob;
use serde_json::Value;
use testkit::{TestDb, count};

mod common;

use common::{WORKER, start, wait_until};

async fn jobs(db: &TestDb, args: &[&str]) -> Output {
    tokio::process::Command::new(WORKER)
        .arg("jobs")
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .output()
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A `noop` job discarded after its one attempt, with its error.
async fn discarded_job(db: &TestDb) -> i64 {
    let [id] = testkit::enqueue(&db.pool, &[NewJob::new(&Noop {}).max_attempts(1)]).await[..]
    else {
        panic!("not enqueued");
    };
    sqlx::query(
        "update jobs set state = 'discarded', attempt = 1, finished_at = now(),
                last_error = 'the payment service said no' where id = $1",
    )
    .bind(id)
    .execute(&db.pool)
    .await
    .unwrap();
    id.0
}

#[tokio::test]
async fn a_discarded_job_is_found_shown_and_retried_and_then_runs() {
    let db = TestDb::new().await;
    let id = discarded_job(&db).await;

    let listed = jobs(&db, &["list", "--state", "discarded", "--json"]).await;
    assert!(listed.status.success(), "{}", stderr(&listed));
    let rows: Vec<Value> = stdout(&listed)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["id"], id);

    let table = jobs(&db, &["list"]).await;
    assert!(
        stdout(&table).contains("the payment service said no"),
        "{}",
        stdout(&table)
    );

    let shown = jobs(&db, &["show", &id.to_string()]).await;
    let shown = stdout(&shown);
    assert!(
        shown.contains("last_error  the payment service said no")
            && shown.contains("state  discarded"),
        "{shown}"
    );

    let retried = jobs(&db, &["retry", &id.to_string()]).await;
    assert!(retried.status.success(), "{}", stderr(&retried));
    assert_eq!(
        stdout(&retried).trim(),
        format!("job {id} (noop): discarded → available")
    );

    let mut worker = start(&db, &[]).await;
    wait_until(
        &db.pool,
        "the retried job to complete",
        Duration::from_secs(10),
        "select count(*) from jobs where state = 'completed' and attempt = 2",
    )
    .await;
    worker.signal(nix::sys::signal::Signal::SIGTERM);
    worker.wait_exit(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_bad_id_or_state_exits_2_and_changes_nothing() {
    let db = TestDb::new().await;
    let id = discarded_job(&db).await.to_string();
    for args in [
        vec!["retry", &id, "999999"],
        vec!["discard", &id],
        vec!["cancel", &id],
        vec!["show", "999999"],
        vec!["list", "--state", "lost"],
        vec!["retry", "not-a-number"],
    ] {
        let output = jobs(&db, &args).await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(!stderr(&output).is_empty(), "{args:?} says why");
    }
    assert!(stderr(&jobs(&db, &["retry", &id, "999999"]).await).contains("no job 999999"));
    assert_eq!(
        count(
            &db.pool,
            "select count(*) from jobs where state = 'discarded' and max_attempts = 1"
        )
        .await,
        1,
        "nothing was changed"
    );
}

#[tokio::test]
async fn a_running_job_cancelled_from_the_cli_is_stopped_by_its_worker_and_discarded() {
    let db = TestDb::new().await;
    // A long export, running on a worker whose heartbeat is quick.
    worker::testing::new_export(&db.pool, "big", 100, 1).await;
    let env = [
        ("EXPORT_BATCH_TIME", "200ms"),
        ("QUEUE_LEASE", "3s"),
        ("QUEUE_HEARTBEAT", "500ms"),
        ("DATABASE_ACQUIRE_TIMEOUT", "1s"),
        ("DATABASE_STATEMENT_TIMEOUT", "1s"),
    ];
    let mut worker = start(&db, &env).await;
    wait_until(
        &db.pool,
        "a batch recorded",
        Duration::from_secs(10),
        "select count(*) from export_batches",
    )
    .await;
    let id: i64 = sqlx::query_scalar("select id from jobs")
        .fetch_one(&db.pool)
        .await
        .unwrap();

    let cancelled = jobs(&db, &["cancel", &id.to_string(), "--by", "ops on call"]).await;
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));
    assert_eq!(
        stdout(&cancelled).trim(),
        format!("job {id} (export_orders): running → discarded")
    );
    let (state, last_error): (String, String) =
        sqlx::query_as("select state, last_error from jobs where id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        (state.as_str(), last_error.as_str()),
        ("discarded", "cancelled by ops on call")
    );
    worker
        .wait_for_message(
            "cancel requested; cancelling the job, which ends discarded",
            Duration::from_secs(1),
        )
        .await;
    worker.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(
        worker.wait_exit(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}
