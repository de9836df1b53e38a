//! Schedules' passes against a real PostgreSQL: each tick enqueued once,
//! whoever runs the pass, whenever, and however long its jobs are kept.

mod common;

use jiff::{SignedDuration, Timestamp};
use queue::NewJob;
use queue::schedule::{self, Missed, Schedule, ScheduleSpec};
use sqlx::PgPool;
use testkit::{TestDb, count};

use common::K;

fn every_five_seconds(missed: Missed) -> Schedule {
    Schedule::parse(ScheduleSpec {
        name: "five",
        cron: "*/5 * * * * *",
        time_zone: "UTC",
        missed,
        job: |tick| {
            NewJob::new(&K {
                n: tick.as_second(),
            })
        },
    })
    .unwrap()
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

async fn jobs(pool: &PgPool) -> i64 {
    count(pool, "select count(*) from jobs").await
}

#[tokio::test]
async fn a_new_schedule_starts_now_then_each_tick_is_enqueued_once() {
    let db = TestDb::new().await;
    let five = every_five_seconds(Missed::RunEach);
    let first = schedule::enqueue_due(&db.pool, &five, at("2026-12-04T10:00:02Z"))
        .await
        .unwrap();
    assert!(first.enqueued.is_empty(), "no ticks from before it existed");
    assert_eq!(first.next, Some(at("2026-12-04T10:00:05Z")));

    let second = schedule::enqueue_due(&db.pool, &five, at("2026-12-04T10:00:06Z"))
        .await
        .unwrap();
    assert_eq!(second.enqueued, [at("2026-12-04T10:00:05Z")]);
    let again = schedule::enqueue_due(&db.pool, &five, at("2026-12-04T10:00:06Z"))
        .await
        .unwrap();
    assert!(again.enqueued.is_empty());
    assert_eq!(jobs(&db.pool).await, 1);
    let key: String = sqlx::query_scalar("select unique_key from jobs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(key, "schedule:five:2026-12-04T10:00:05Z");
}

#[tokio::test]
async fn ticks_missed_while_no_worker_ran_are_enqueued_once_each_or_only_the_latest() {
    let db = TestDb::new().await;
    let five = every_five_seconds(Missed::RunEach);
    schedule::enqueue_due(&db.pool, &five, at("2026-12-04T10:00:00Z"))
        .await
        .unwrap();
    // Nobody ran for 20 s.
    let back = schedule::enqueue_due(&db.pool, &five, at("2026-12-04T10:00:21Z"))
        .await
        .unwrap();
    assert_eq!(back.enqueued.len(), 4, "{back:?}");
    assert_eq!(jobs(&db.pool).await, 4);

    let latest = every_five_seconds(Missed::RunLatest);
    let back = schedule::enqueue_due(&db.pool, &latest, at("2026-12-04T10:00:41Z"))
        .await
        .unwrap();
    assert_eq!(
        (back.enqueued, back.skipped),
        (vec![at("2026-12-04T10:00:40Z")], 3)
    );
}

#[tokio::test]
async fn the_mark_outlives_the_jobs_so_retention_brings_no_tick_back() {
    let db = TestDb::new().await;
    let five = every_five_seconds(Missed::RunEach);
    schedule::enqueue_due(&db.pool, &five, at("2026-12-04T10:00:00Z"))
        .await
        .unwrap();
    schedule::enqueue_due(&db.pool, &five, at("2026-12-04T10:00:11Z"))
        .await
        .unwrap();
    sqlx::query("delete from jobs")
        .execute(&db.pool)
        .await
        .unwrap();
    let after = schedule::enqueue_due(&db.pool, &five, at("2026-12-04T10:00:11Z"))
        .await
        .unwrap();
    assert!(after.enqueued.is_empty(), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_racing_for_the_same_ticks_enqueue_each_once() {
    let db = TestDb::new().await;
    let five = every_five_seconds(Missed::RunEach);
    let start = at("2026-12-04T10:00:00Z");
    schedule::enqueue_due(&db.pool, &five, start).await.unwrap();
    // Eight workers at once, each at its own moment of the same minute.
    let passes: Vec<_> = (0..8)
        .map(|n| {
            let (pool, five) = (db.pool.clone(), five.clone());
            let now = start + SignedDuration::from_secs(30 + n);
            tokio::spawn(async move { schedule::enqueue_due(&pool, &five, now).await.unwrap() })
        })
        .collect();
    let mut enqueued = 0;
    for pass in passes {
        enqueued += pass.await.unwrap().enqueued.len();
    }
    let ticks = count(&db.pool, "select count(distinct unique_key) from jobs").await;
    assert_eq!(jobs(&db.pool).await, ticks, "no tick twice");
    assert_eq!(enqueued as i64, ticks);
    // A pass that found the row locked skips (another is enqueueing), so
    // the last tick, 10:00:35, may wait for the next pass.
    assert!((6..=7).contains(&ticks), "{ticks} ticks");
}
