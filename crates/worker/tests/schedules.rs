//! The example schedule (`order_stats`, every five seconds) through real
//! worker processes: two replicas racing for each tick, a time with no
//! worker at all, and the negative control, workers on their own clocks.

use std::time::Duration;

use nix::sys::signal::Signal;
use testkit::{Service, TestDb, count};

mod common;

use common::{start, wait_until};

async fn stop(mut worker: Service) {
    worker.signal(Signal::SIGTERM);
    assert_eq!(
        worker.wait_exit(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}

/// (ticks recorded, ticks recorded more than once, gaps between
/// consecutive ticks other than 5 s).
async fn ticks(pool: &sqlx::PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "with per_tick as (select tick, count(*) as n from order_stats group by tick),
              spaced as (select tick, n, tick - lag(tick) over (order by tick) as gap from per_tick)
         select count(*), count(*) filter (where n > 1),
                count(*) filter (where gap is not null and gap <> interval '5 seconds')
         from spaced",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn two_workers_and_a_gap_with_none_enqueue_and_run_each_tick_once() {
    let db = TestDb::new().await;
    let env = [("WORKER_SCHEDULES", "order_stats")];
    let (first, second) = (start(&db, &env).await, start(&db, &env).await);
    wait_until(
        &db.pool,
        "two ticks recorded",
        Duration::from_secs(20),
        "select (count(*) >= 2)::int::int8 from order_stats",
    )
    .await;
    stop(first).await;
    stop(second).await;
    // No worker runs while at least one tick falls.
    wait_until(
        &db.pool,
        "a tick to fall with no worker running",
        Duration::from_secs(20),
        "select (now() > max(last_tick) + interval '6 seconds')::int::int8 from schedules",
    )
    .await;
    let third = start(&db, &env).await;
    wait_until(
        &db.pool,
        "the missed ticks and one more",
        Duration::from_secs(20),
        "select (max(tick) > (select min(tick) from order_stats) + interval '15 seconds')::int::int8
         from order_stats",
    )
    .await;
    let metrics = common::metrics(&third).await;
    for series in [
        r#"queue_schedule_next_tick_seconds{"#,
        r#"queue_schedule_last_tick_seconds{"#,
        r#"queue_schedule_period_seconds{"#,
        r#"queue_schedule_ticks_total{"#,
    ] {
        assert!(
            metrics
                .lines()
                .any(|line| line.starts_with(series) && line.contains(r#"schedule="order_stats""#)),
            "{series} in {metrics}"
        );
    }
    stop(third).await;

    let (recorded, doubled, gaps) = ticks(&db.pool).await;
    assert!(recorded >= 4, "{recorded}");
    assert_eq!((doubled, gaps), (0, 0), "each tick once, none missed");
    assert_eq!(
        count(
            &db.pool,
            "select count(*) - count(distinct unique_key) from jobs where kind = 'record_order_stats'"
        )
        .await,
        0,
        "each tick enqueued once"
    );
}

/// The negative control: each worker fires on its own clock, and two of
/// them record a tick twice.
#[tokio::test]
async fn workers_on_their_own_clocks_double_ticks() {
    let db = TestDb::new().await;
    let env = [
        ("WORKER_SCHEDULES", "order_stats"),
        ("WORKER_SCHEDULER", "local-timer"),
    ];
    let (first, second) = (start(&db, &env).await, start(&db, &env).await);
    wait_until(
        &db.pool,
        "a tick recorded twice",
        Duration::from_secs(20),
        "select count(*) from (select tick from order_stats group by tick having count(*) > 1) as doubled",
    )
    .await;
    stop(first).await;
    stop(second).await;
    assert!(ticks(&db.pool).await.1 > 0);
}

#[tokio::test]
async fn a_schedule_not_declared_is_bad_config_named() {
    let db = TestDb::new().await;
    let mut worker = Service::spawn(
        common::WORKER,
        &[
            ("DATABASE_URL", db.url.clone()),
            ("WORKER_SCHEDULES", "order_stats,nightly_report".to_owned()),
        ],
    );
    assert_eq!(
        worker.wait_exit(Duration::from_secs(10)).await.code(),
        Some(2)
    );
    assert!(
        worker
            .stderr()
            .contains("WORKER_SCHEDULES names `nightly_report`"),
        "{}",
        worker.stderr()
    );
}
