//! The claim loop against stop-intake: no claim starts once intake has
//! stopped, and one that was out when it stopped starts nothing.

use std::time::{Duration, Instant};

use domain::Noop;
use queue::NewJob;
use sqlx::PgPool;
use testkit::TestDb;
use tokio_util::sync::CancellationToken;

use crate::handlers::NoopHandler;
use crate::testing::in_process_runner;
use crate::{Handlers, Registered};

fn noop_runner(pool: &PgPool) -> super::Runner {
    let handlers = Handlers::only([Registered::new(NoopHandler)]);
    in_process_runner(pool, handlers, CancellationToken::new())
}

/// The job's state, attempts spent, and claims made (its lease counter).
async fn job(pool: &PgPool) -> (String, i32, i64) {
    sqlx::query_as("select state, attempt, lease from jobs")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// With a free slot and intake stopped both ready, an unbiased choice
/// claimed about every other time; 200 tries in a row must claim never.
#[tokio::test]
async fn with_intake_stopped_a_free_slot_never_starts_a_claim() {
    let db = TestDb::new().await;
    testkit::enqueue(&db.pool, &[NewJob::new(&Noop {})]).await;
    for attempt in 1..=200 {
        let runner = noop_runner(&db.pool);
        let stop = CancellationToken::new();
        stop.cancel();
        runner.clone().claim_until(stop).await;
        assert_eq!(
            job(&db.pool).await,
            ("available".to_owned(), 0, 0),
            "try {attempt}: claimed after stop-intake"
        );
    }
}

/// A claim held up (here by a table lock) until after intake stopped: its
/// job goes back with its attempt, and no job task is started.
#[tokio::test]
async fn a_claim_that_lands_after_intake_stopped_starts_nothing_and_hands_its_job_back() {
    let db = TestDb::new().await;
    testkit::enqueue(&db.pool, &[NewJob::new(&Noop {})]).await;
    let mut blocker = db.pool.begin().await.unwrap();
    sqlx::query("lock table jobs in exclusive mode")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let runner = noop_runner(&db.pool);
    let stop = CancellationToken::new();
    let claiming = tokio::spawn(runner.clone().claim_until(stop.clone()));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: bool = sqlx::query_scalar(
            "select exists (select 1 from pg_stat_activity
             where wait_event_type = 'Lock' and query like '%queue_claim%')",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if waiting {
            break;
        }
        assert!(Instant::now() < deadline, "the claim never went out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    blocker.rollback().await.unwrap();
    claiming.await.unwrap();
    assert_eq!(runner.jobs.len(), 0, "a job task was started");
    assert_eq!(
        job(&db.pool).await,
        ("available".to_owned(), 0, 1),
        "claimed once, handed back with its attempt"
    );
}
