//! A long job, the example's `export_orders`, through the real `worker`
//! binary's shutdown: interrupted at a step boundary when the drain begins,
//! listed in the shutdown report, and finished by another worker from its
//! cursor with every batch recorded once.

use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use testkit::{TestDb, count};

mod common;

use common::{FAST_SHUTDOWN, metrics, start, wait_until};

#[tokio::test]
async fn sigterm_interrupts_a_long_job_at_a_step_boundary_and_another_worker_finishes_it() {
    let db = TestDb::new().await;
    // 40 batches of 200 ms: about three drain budgets of FAST_SHUTDOWN.
    worker::testing::new_export(&db.pool, "big", 40, 1).await;
    let env = [[("EXPORT_BATCH_TIME", "200ms")].as_slice(), &FAST_SHUTDOWN].concat();
    let mut first = start(&db, &env).await;
    wait_until(
        &db.pool,
        "three batches recorded",
        Duration::from_secs(20),
        "select (count(*) >= 3)::int::int8 from export_batches",
    )
    .await;

    first.signal(Signal::SIGTERM);
    assert_eq!(
        first.wait_exit(Duration::from_secs(10)).await.code(),
        Some(0)
    );
    let report = first.report(Duration::from_secs(1)).await;
    let drain = testkit::report::hook(&report, "drain", "jobs");
    assert_eq!(
        drain["outcome"], "done",
        "the drain did not wait out its budget: {drain}"
    );
    assert_eq!(drain["counts"]["jobs_interrupted"], 1);
    let listed = &drain["lists"]["interrupted"][0];
    assert_eq!(listed["kind"], "export_orders", "{drain}");
    let (job_id, state, attempt, cursor): (i64, String, i32, Value) =
        sqlx::query_as("select id, state, attempt, cursor from jobs")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(listed["job_id"], job_id);
    let recorded = count(&db.pool, "select count(*) from export_batches").await;
    assert_eq!(
        listed["steps_done"], recorded,
        "the report says how far it got"
    );
    assert_eq!(
        (state.as_str(), attempt, &cursor["batches"]),
        ("available", 0, &Value::from(recorded)),
        "released at once with its cursor, its attempt given back"
    );

    let mut second = start(&db, &[("EXPORT_BATCH_TIME", "10ms")]).await;
    wait_until(
        &db.pool,
        "the export to complete",
        Duration::from_secs(20),
        "select count(*) from jobs where state = 'completed'",
    )
    .await;
    second.signal(Signal::SIGTERM);
    assert_eq!(
        second.wait_exit(Duration::from_secs(10)).await.code(),
        Some(0)
    );
    assert_eq!(
        count(
            &db.pool,
            "select count(*) filter (where n = 1) from
             (select count(*) as n from export_batches group by batch) as per_batch"
        )
        .await,
        40,
        "every batch recorded exactly once"
    );
    assert_eq!(
        count(&db.pool, "select lease * 100 + attempt from jobs").await,
        201,
        "claimed twice, one attempt spent: never rescued, never failed"
    );
}

#[tokio::test]
async fn a_step_longer_than_half_the_drain_budget_is_warned_of_and_counted() {
    let db = TestDb::new().await;
    worker::testing::new_export(&db.pool, "slow", 1, 1).await;
    // FAST_SHUTDOWN's drain budget is 2.5 s: a 1.5 s batch is past half.
    let env = [[("EXPORT_BATCH_TIME", "1500ms")].as_slice(), &FAST_SHUTDOWN].concat();
    let mut worker = start(&db, &env).await;
    let warning = worker
        .wait_for_message(
            "a step took more than half the drain budget: at a deploy this job may not reach a step boundary in time; make its steps smaller (docs/extending.md)",
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(warning["kind"], "export_orders", "{warning}");
    assert_eq!(warning["slow_after_ms"], 1250, "{warning}");
    let text = metrics(&worker).await;
    assert!(
        text.lines()
            .any(|line| line.starts_with("queue_job_steps_slow_total")
                && line.contains(r#"kind="export_orders""#)
                && line.ends_with(" 1")),
        "{text}"
    );
    worker.signal(Signal::SIGTERM);
    assert_eq!(
        worker.wait_exit(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}
