//! The claim loop's pace (`worker::pace`): a trickle of jobs is claimed in
//! batches, no more often than the claim cooldown, and a backlog without
//! a pause.

use std::time::{Duration, Instant};

use domain::Noop;
use queue::NewJob;
use testkit::TestDb;

mod common;

/// Claims the worker has made, from its `/metrics`: none before the
/// histogram's first sample.
async fn claims(worker: &testkit::Service) -> u64 {
    let metrics = common::metrics(worker).await;
    testkit::sample(&metrics, "queue_claim_duration_seconds_count", &[]).unwrap_or(0.0) as u64
}

#[tokio::test]
async fn a_trickle_of_jobs_is_claimed_no_more_often_than_the_cooldown() {
    let db = TestDb::new().await;
    let cooldown = Duration::from_millis(250);
    let worker = common::start(
        &db,
        &[
            ("QUEUE_CLAIM_COOLDOWN", "250ms"),
            ("QUEUE_POLL_INTERVAL", "1s"),
            // More slots than a cooldown's worth of jobs: every claim comes
            // back short, so every claim waits for the cooldown.
            ("WORKER_CONCURRENCY", "64"),
        ],
    )
    .await;
    let before = claims(&worker).await;
    let started = Instant::now();
    // The trickle: one job, and its NOTIFY, every 20 ms.
    let mut every = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..40 {
        every.tick().await;
        testkit::enqueue(&db.pool, &[NewJob::new(&Noop {})]).await;
    }
    common::wait_until(
        &db.pool,
        "the 40 jobs to complete",
        Duration::from_secs(30),
        "select (count(*) filter (where state = 'completed') = 40)::int::int8 from jobs",
    )
    .await;
    let elapsed = started.elapsed();
    let made = claims(&worker).await - before;
    // One claim per cooldown, plus the one a hint starts after a quiet
    // spell and slack for the first and last.
    let bound = (elapsed.as_millis() / cooldown.as_millis()) as u64 + 3;
    assert!(
        made <= bound,
        "{made} claims for 40 jobs in {elapsed:?}: at most {bound} with a {cooldown:?} cooldown"
    );
}

#[tokio::test]
async fn a_backlog_is_claimed_without_waiting_for_the_cooldown() {
    let db = TestDb::new().await;
    let jobs: Vec<NewJob> = (0..200).map(|_| NewJob::new(&Noop {})).collect();
    testkit::enqueue(&db.pool, &jobs).await;
    // Four slots: fifty full claims at the least. Each waiting out a five
    // second cooldown would take minutes.
    let _worker = common::start(
        &db,
        &[
            ("QUEUE_CLAIM_COOLDOWN", "5s"),
            ("QUEUE_POLL_INTERVAL", "10s"),
            ("WORKER_CONCURRENCY", "4"),
        ],
    )
    .await;
    common::wait_until(
        &db.pool,
        "the backlog of 200 to complete",
        Duration::from_secs(30),
        "select (count(*) filter (where state = 'completed') = 200)::int::int8 from jobs",
    )
    .await;
}
