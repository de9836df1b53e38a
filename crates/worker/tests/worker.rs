//! The real `worker` binary against a real PostgreSQL: many processes at
//! once, SIGTERM with short and long jobs, SIGKILL mid-job.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;
use testkit::{Service, TestDb, count};

mod common;

use common::{FAST_SHUTDOWN, WORKER, orders, start, wait_until};

/// The `jobs` hook of `phase`.
fn hook<'r>(report: &'r Value, phase: &str) -> &'r Value {
    testkit::report::hook(report, phase, "jobs")
}

#[tokio::test]
async fn four_workers_fulfil_thousands_of_orders_exactly_once() {
    let db = TestDb::new().await;
    // The audit: every claim of every job, as the database saw it.
    sqlx::raw_sql(
        "create table job_claims (job_id bigint, lease bigint, locked_by text);
         create function audit_claim() returns trigger language plpgsql as $$
         begin insert into job_claims values (new.id, new.lease, new.locked_by); return new; end $$;
         create trigger audit_claim after update of state on jobs
         for each row when (new.state = 'running') execute function audit_claim();",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let env = [
        ("WORK_TIME", "1ms"),
        ("WORKER_CONCURRENCY", "16"),
        ("SHUTDOWN_DRAIN_DELAY", "0s"),
    ];
    let mut workers = Vec::new();
    for _ in 0..4 {
        workers.push(start(&db, &env).await);
    }
    // Enqueued once all four are ready, so none can empty the queue before
    // the last one starts.
    let total = 3000;
    orders(&db.pool, total, 5).await;
    wait_until(
        &db.pool,
        "every job to complete",
        Duration::from_secs(120),
        "select (count(*) filter (where state <> 'completed') = 0)::int::int8 from jobs",
    )
    .await;
    for worker in &workers {
        worker.signal(Signal::SIGTERM);
    }
    for worker in &mut workers {
        assert_eq!(
            worker.wait_exit(Duration::from_secs(30)).await.code(),
            Some(0)
        );
    }

    assert_eq!(
        count(
            &db.pool,
            "select count(*) from orders where fulfil_count = 1 and status = 'fulfilled'"
        )
        .await,
        total as i64
    );
    assert_eq!(
        count(
            &db.pool,
            "select count(*) from jobs where state <> 'completed'"
        )
        .await,
        0
    );
    assert_eq!(
        count(&db.pool, "select count(*) from job_claims").await,
        total as i64,
        "some job was claimed twice"
    );
    assert_eq!(
        count(&db.pool, "select count(distinct job_id) from job_claims").await,
        total as i64
    );
    let workers_used = count(&db.pool, "select count(distinct locked_by) from job_claims").await;
    assert_eq!(workers_used, 4, "all four workers took part");
}

#[tokio::test]
async fn sigterm_lets_jobs_shorter_than_the_drain_budget_finish() {
    let db = TestDb::new().await;
    orders(&db.pool, 10, 5).await;
    let mut worker = start(
        &db,
        &[
            [("WORK_TIME", "1500ms"), ("WORKER_CONCURRENCY", "10")].as_slice(),
            &FAST_SHUTDOWN,
        ]
        .concat(),
    )
    .await;
    wait_until(
        &db.pool,
        "10 running jobs",
        Duration::from_secs(10),
        "select (count(*) = 10)::int::int8 from jobs where state = 'running'",
    )
    .await;

    worker.signal(Signal::SIGTERM);
    assert_eq!(
        worker.wait_exit(Duration::from_secs(10)).await.code(),
        Some(0)
    );
    let report = worker.report(Duration::from_secs(1)).await;
    assert_eq!(report["outcome"], "clean");
    assert_eq!(hook(&report, "drain")["counts"]["jobs_finished"], 10);
    assert_eq!(
        count(
            &db.pool,
            "select count(*) from orders where fulfil_count = 1"
        )
        .await,
        10
    );
    // Every loop beside the jobs is awaited in its phase, and stopped.
    testkit::report::assert_hooks_done(
        &report,
        &[
            (
                "stop_intake",
                &["claim loop", "scheduler", "rescuer", "sweeper"],
            ),
            ("drain", &["jobs"]),
            ("cancel", &["jobs"]),
            ("flush", &["heartbeat", "telemetry"]),
            ("close", &["queue sampler", "ops server", "database pool"]),
        ],
    );
}

#[tokio::test]
async fn sigterm_releases_jobs_longer_than_the_drain_budget_for_another_worker() {
    let db = TestDb::new().await;
    orders(&db.pool, 4, 5).await;
    let mut first = start(
        &db,
        &[
            [("WORK_TIME", "1h"), ("WORKER_CONCURRENCY", "4")].as_slice(),
            &FAST_SHUTDOWN,
        ]
        .concat(),
    )
    .await;
    wait_until(
        &db.pool,
        "4 running jobs",
        Duration::from_secs(10),
        "select (count(*) = 4)::int::int8 from jobs where state = 'running'",
    )
    .await;

    let signalled = Instant::now();
    first.signal(Signal::SIGTERM);
    let status = first.wait_exit(Duration::from_secs(12)).await;
    assert!(
        signalled.elapsed() < Duration::from_secs(6),
        "exited after {:?}",
        signalled.elapsed()
    );
    assert_eq!(status.code(), Some(0));
    let report = first.report(Duration::from_secs(1)).await;
    assert_eq!(hook(&report, "drain")["outcome"], "timed_out");
    assert_eq!(hook(&report, "cancel")["counts"]["jobs_released"], 4);
    assert_eq!(hook(&report, "cancel")["counts"]["jobs_abandoned"], 0);
    assert_eq!(
        count(
            &db.pool,
            "select count(*) from jobs where state = 'available' and attempt = 0"
        )
        .await,
        4,
        "released with their attempt restored"
    );

    let mut second = start(&db, &[("WORK_TIME", "10ms")]).await;
    wait_until(
        &db.pool,
        "the released jobs to complete",
        Duration::from_secs(10),
        "select (count(*) = 4)::int::int8 from jobs where state = 'completed' and attempt = 1",
    )
    .await;
    assert_eq!(
        count(
            &db.pool,
            "select count(*) from orders where fulfil_count = 1"
        )
        .await,
        4
    );
    second.signal(Signal::SIGTERM);
    assert_eq!(
        second.wait_exit(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}

#[tokio::test]
async fn a_job_whose_worker_is_killed_is_rescued_and_fulfilled_once_within_lease_plus_two_seconds()
{
    let db = TestDb::new().await;
    let order = orders(&db.pool, 1, 5).await.remove(0);
    let lease = [
        ("QUEUE_LEASE", "3s"),
        ("QUEUE_HEARTBEAT", "1s"),
        ("DATABASE_ACQUIRE_TIMEOUT", "1s"),
        ("DATABASE_STATEMENT_TIMEOUT", "1s"),
    ];
    let mut doomed = start(&db, &[[("WORK_TIME", "1h")].as_slice(), &lease].concat()).await;
    wait_until(
        &db.pool,
        "the job to run",
        Duration::from_secs(10),
        "select count(*) from jobs where state = 'running'",
    )
    .await;
    // Let a heartbeat or two renew the lease, so the kill lands mid-lease.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    doomed.signal(Signal::SIGKILL);
    let killed = Instant::now();
    doomed.wait_exit(Duration::from_secs(5)).await;
    // Also timed on the database's clock from the dead worker's last lease,
    // which ends at most 3 s after the kill: the rescue must follow within
    // 2 s of it, whatever the test process's own scheduling adds.
    let lease_end: f64 = sqlx::query_scalar(
        "select extract(epoch from lease_expires_at)::float8 from jobs where state = 'running'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let mut rescuer = start(&db, &[[("WORK_TIME", "10ms")].as_slice(), &lease].concat()).await;
    wait_until(
        &db.pool,
        "the order to be fulfilled",
        Duration::from_secs(15),
        "select count(*) from orders where status = 'fulfilled'",
    )
    .await;
    let took = killed.elapsed();
    assert!(
        took <= Duration::from_secs(5),
        "kill to completion took {took:?}, more than lease + 2s"
    );
    let fulfilled: f64 = sqlx::query_scalar(
        "select extract(epoch from fulfilled_at)::float8 from orders where id = $1",
    )
    .bind(order)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let after_lease_ms = (fulfilled - lease_end) * 1000.0;
    assert!(
        after_lease_ms <= 2000.0,
        "fulfilled {after_lease_ms:.0} ms after the dead worker's lease ended, more than 2 s"
    );
    eprintln!("kill to completion: {took:?}; lease end to completion: {after_lease_ms:.0} ms");

    let (fulfil_count, attempt): (i32, i32) =
        sqlx::query_as("select o.fulfil_count, j.attempt from orders o, jobs j where o.id = $1")
            .bind(order)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((fulfil_count, attempt), (1, 2));
    rescuer.signal(Signal::SIGTERM);
    assert_eq!(
        rescuer.wait_exit(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}

#[tokio::test]
async fn a_heartbeat_of_more_than_a_third_of_the_lease_is_refused() {
    let db = TestDb::new().await;
    let mut worker = Service::spawn(
        WORKER,
        &[
            ("DATABASE_URL", db.url.clone()),
            ("QUEUE_LEASE", "10s".into()),
            ("QUEUE_HEARTBEAT", "5s".into()),
        ],
    );
    assert_eq!(
        worker.wait_exit(Duration::from_secs(10)).await.code(),
        Some(2)
    );
    let stderr = worker.stderr();
    assert!(
        stderr.contains("QUEUE_HEARTBEAT") && stderr.contains("QUEUE_LEASE"),
        "{stderr}"
    );
}

#[test]
fn the_readme_documents_every_setting_help_lists() {
    let missing = testkit::settings_missing_from_doc(WORKER, &["--help"], "README.md");
    assert!(missing.is_empty(), "README.md lacks {missing:?}");
}
