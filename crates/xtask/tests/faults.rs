//! The services when their PostgreSQL fails under them: restarted under
//! load, and frozen mid-job. Each test owns its server (a throwaway cluster),
//! since it stops or freezes it; the api and worker binaries come from the
//! target dir (`testkit::workspace_binary`).

mod common;

use std::time::Duration;

use nix::sys::signal::Signal;
use testkit::{TestDb, wait_until, workspace_binary};
use tokio::time::Instant;

use common::{
    Load, QUICK_SHUTDOWN, SHORT_LEASE, assert_fulfilled_exactly_once, cluster, spawn, stop_cleanly,
    wait_ready,
};

#[tokio::test]
async fn a_postgresql_restart_under_load_costs_only_503s_and_loses_or_doubles_no_order() {
    let (Some(api_bin), Some(worker_bin)) = (workspace_binary("api"), workspace_binary("worker"))
    else {
        return;
    };
    let mut pg = cluster().await;
    let db = TestDb::on(pg.url()).await;
    // A client waits at most a second for a connection, then gets a 503.
    let api_env = [("DATABASE_ACQUIRE_TIMEOUT", "1s")];
    let mut api = spawn(
        &api_bin,
        &db,
        &[api_env.as_slice(), &QUICK_SHUTDOWN].concat(),
    );
    let mut worker = spawn(
        &worker_bin,
        &db,
        &[SHORT_LEASE.as_slice(), &QUICK_SHUTDOWN].concat(),
    );
    let (base, readyz) = wait_ready(&api, &worker).await;

    let t0 = Instant::now();
    let load = Load::start(
        &base,
        &readyz,
        t0,
        Duration::from_secs(15),
        Duration::from_millis(20),
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    // Hold order inserts on a lock, so that the restart catches requests in
    // the middle of a statement, not only between them.
    let mut blocker = db.pool.begin().await.unwrap();
    sqlx::query("lock table orders in exclusive mode")
        .execute(&mut *blocker)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    pg.stop_for_restart().unwrap();
    drop(blocker);
    let down = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Down for sure until `pg_ctl start` begins; accepting once it returns.
    let restarting = t0.elapsed();
    pg.start_again().await.unwrap();
    let up = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let seen = load.stop().await;

    assert!(api.exited().is_none(), "the api exited: {}", api.stderr());
    assert!(
        worker.exited().is_none(),
        "the worker exited: {}",
        worker.stderr()
    );

    let outcomes = &seen.outcomes;
    let mut by_status = std::collections::BTreeMap::<String, usize>::new();
    for outcome in outcomes
        .iter()
        .filter(|o| o.sent >= down && o.sent < restarting)
    {
        let key = outcome
            .status
            .map_or("no response".to_owned(), |s| s.to_string());
        *by_status.entry(key).or_default() += 1;
    }
    let first_success_after_up = outcomes
        .iter()
        .filter(|o| o.sent >= up && matches!(o.status, Some(200 | 201)))
        .map(|o| o.sent - up)
        .min();
    eprintln!(
        "restart: down {down:?}, up {up:?}; requests sent while down by status: {by_status:?}; \
         first success {first_success_after_up:?} after PostgreSQL accepted connections; \
         {} requests in all, {} orders acknowledged",
        outcomes.len(),
        seen.acknowledged.len()
    );
    for outcome in outcomes {
        outcome.assert_success_or_retryable_503();
        if outcome.sent >= up + Duration::from_secs(2) {
            assert!(
                matches!(outcome.status, Some(200 | 201)),
                "still failing 2 s after PostgreSQL came back: {outcome:?}"
            );
        }
    }
    assert!(
        by_status.contains_key("503"),
        "the outage was seen: {by_status:?}"
    );

    seen.assert_unready(down, restarting);

    assert_fulfilled_exactly_once(&db.pool, &seen.acknowledged, Duration::from_secs(40)).await;

    stop_cleanly(&mut [&mut api, &mut worker]).await;
}

#[tokio::test]
async fn a_worker_that_cannot_renew_its_lease_cancels_the_job_before_the_lease_can_expire() {
    let Some(worker_bin) = workspace_binary("worker") else {
        return;
    };
    let pg = cluster().await;
    let db = TestDb::on(pg.url()).await;
    let order: uuid::Uuid = sqlx::query_scalar(
        "insert into orders (customer_id, items) values ('c', '[]') returning id",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    testkit::enqueue(
        &db.pool,
        &[queue::NewJob::new(&domain::FulfilOrder { order_id: order })],
    )
    .await;
    let lease = Duration::from_secs(3);
    let env = [
        ("QUEUE_LEASE", "3s"),
        ("QUEUE_HEARTBEAT", "1s"),
        ("DATABASE_ACQUIRE_TIMEOUT", "1s"),
        ("DATABASE_STATEMENT_TIMEOUT", "1s"),
        ("WORK_TIME", "6s"),
    ];
    let mut worker = spawn(
        &worker_bin,
        &db,
        &[env.as_slice(), &QUICK_SHUTDOWN].concat(),
    );
    worker
        .wait_for_message("worker ready", Duration::from_secs(10))
        .await;
    wait_until(
        &db.pool,
        "the job to start",
        Duration::from_secs(10),
        "select count(*) from jobs where state = 'running'",
    )
    .await;

    // When the lease runs out, by the database's clock, as the last renewal
    // left it. A renewal after this read only moves it later, and the
    // worker would then cancel later by as much, still before this instant:
    // it cancels two beats before its lease ends.
    let left: f64 = sqlx::query_scalar(
        "select extract(epoch from lease_expires_at - clock_timestamp())::float8 from jobs",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let expires = Instant::now() + Duration::from_secs_f64(left);
    // Nothing answers from here on: renewals hang, and are abandoned.
    pg.freeze(true).unwrap();
    let frozen = Instant::now();
    worker
        .wait_for(
            "the job cancelled for want of a renewal",
            lease + Duration::from_secs(2),
            |event| {
                event["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("lease not renewed in time"))
            },
        )
        .await;
    let cancelled = Instant::now();
    let cancelled_after = cancelled - frozen;
    worker
        .wait_for_message(
            "attempt's end not recorded: its lease is another attempt's, or will expire",
            Duration::from_secs(5),
        )
        .await;
    pg.freeze(false).unwrap();
    eprintln!(
        "freeze: cancelled {cancelled_after:?} after the database froze, {:?} before the lease expired",
        expires.saturating_duration_since(cancelled)
    );
    assert!(
        cancelled < expires,
        "cancelled {:?} after the lease expired",
        cancelled - expires
    );

    // The lease expires unrenewed, the job is rescued and run again, once:
    // the job completed, and its effect counted once after it.
    wait_until(
        &db.pool,
        "the job to complete after the thaw",
        Duration::from_secs(30),
        "select count(*) from jobs where state = 'completed'",
    )
    .await;
    worker.signal(Signal::SIGTERM);
    assert_eq!(
        worker.wait_exit(Duration::from_secs(15)).await.code(),
        Some(0),
        "{}",
        worker.stderr()
    );
    let fulfilled: i32 = sqlx::query_scalar("select fulfil_count from orders")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        fulfilled, 1,
        "fulfilled once, counted after the worker is gone"
    );
}
