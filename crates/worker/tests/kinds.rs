//! Version skew with the real `worker`: it claims only the kinds it runs
//! (all its handlers, or `WORKER_KINDS`), so a job of a kind it does not run
//! waits, untouched and visible, for a worker that does; and it claims
//! nothing while the database lacks a migration it needs.

mod common;

use std::time::Duration;

use domain::{FulfilOrder, Noop};
use queue::{Job, NewJob};
use testkit::TestDb;

use common::{WORKER, start, wait_until};

#[tokio::test]
async fn a_kind_a_worker_does_not_run_waits_untouched_until_one_that_does_runs_it_once() {
    let db = TestDb::new().await;
    testkit::enqueue(&db.pool, &[NewJob::new(&Noop {})]).await;

    // As an old release would: it has no `noop` to run.
    let old = start(&db, &[("WORKER_KINDS", FulfilOrder::KIND)]).await;
    // Seven poll intervals (200 ms) and a notification come and go.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let row: (String, i32, i64) = sqlx::query_as("select state, attempt, lease from jobs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        row,
        ("available".to_owned(), 0, 0),
        "untouched, no attempt used"
    );

    let metrics = common::metrics(&old).await;
    let has = |prefix: &str, kind: &str, value: &str| {
        metrics.lines().any(|line| {
            line.starts_with(prefix)
                && line.contains(&format!("kind=\"{kind}\""))
                && line.ends_with(&format!(" {value}"))
        })
    };
    assert!(
        has("queue_kind_available{", Noop::KIND, "1"),
        "the waiting job is visible:\n{metrics}"
    );
    assert!(has("worker_kinds{", FulfilOrder::KIND, "1"), "{metrics}");
    assert!(!has("worker_kinds{", Noop::KIND, "1"), "{metrics}");

    // A worker that runs `noop` comes up and runs it, once.
    let _new = start(&db, &[]).await;
    wait_until(
        &db.pool,
        "the job to complete",
        Duration::from_secs(10),
        "select count(*) from jobs where state = 'completed'",
    )
    .await;
    let (attempt, lease): (i32, i64) = sqlx::query_as("select attempt, lease from jobs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!((attempt, lease), (1, 1), "claimed exactly once");
}

#[tokio::test]
async fn worker_kinds_naming_a_kind_without_a_handler_is_bad_config() {
    let db = TestDb::new().await;
    let output = tokio::process::Command::new(WORKER)
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("OPS_LISTEN_ADDR", testkit::ANY_PORT)
        .env("WORKER_KINDS", "fulfil_order,print_invoice")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("WORKER_KINDS") && stderr.contains("print_invoice"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn a_worker_claims_nothing_until_the_database_has_its_migrations() {
    let (db, newest) = TestDb::behind_newest_migration().await;
    // A plain insert: the enqueue's own function may be what the missing
    // migration adds.
    sqlx::query("insert into jobs (kind) values ($1)")
        .bind(Noop::KIND)
        .execute(&db.pool)
        .await
        .unwrap();

    let worker = start(&db, &[]).await;
    worker
        .wait_for("the wait for migrations", Duration::from_secs(5), |event| {
            event["missing"]
                .as_str()
                .is_some_and(|m| m.contains(&newest.to_string()))
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let state: String = sqlx::query_scalar("select state from jobs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        state, "available",
        "nothing claimed while the schema is behind"
    );

    // The migrate Job catches up; the same process starts claiming.
    db.migrate().await;
    wait_until(
        &db.pool,
        "the job to complete",
        Duration::from_secs(10),
        "select count(*) from jobs where state = 'completed'",
    )
    .await;
}
