//! The queue where it meets faults and time: no deadlock under concurrency,
//! the backoff at the edge of its arithmetic, payloads no retry can mend, and
//! retention. Against a real PostgreSQL.

mod common;

use std::time::Duration;

use queue::{Backoff, Claimer, FailOutcome, Fence, Job, NewJob, Retention, Swept};
use sqlx::PgPool;
use testkit::TestDb;

use common::K;

const LEASE: Duration = Duration::from_secs(30);

async fn enqueue_many(pool: &PgPool, count: usize) {
    let jobs: Vec<NewJob> = (0..count).map(|_| NewJob::new(&K::default())).collect();
    let mut conn = pool.acquire().await.unwrap();
    queue::enqueue_many(&mut conn, &jobs).await.unwrap();
}

/// Inserts `count` jobs in `state`, finished (or created) `age` ago.
async fn insert_aged(pool: &PgPool, state: &str, age: &str, count: i32) {
    sqlx::query(
        "insert into jobs (kind, state, attempt, created_at, run_at, finished_at)
         select 'k', $1, 1, now() - $2::interval, now() - $2::interval,
                case when $1 in ('completed', 'discarded') then now() - $2::interval end
         from generate_series(1, $3)",
    )
    .bind(state)
    .bind(age)
    .bind(count)
    .execute(pool)
    .await
    .unwrap();
}

async fn count_state(pool: &PgPool, state: &str) -> i64 {
    sqlx::query_scalar("select count(*) from jobs where state = $1")
        .bind(state)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn heartbeat_and_batched_completion_over_shared_jobs_in_opposite_orders_never_deadlock() {
    let db = TestDb::new().await;
    let claimer = Claimer::new(db.pool.clone(), "w", LEASE, [K::KIND]);
    for round in 0..40 {
        enqueue_many(&db.pool, 300).await;
        let mut fences: Vec<Fence> = claimer
            .claim(300)
            .await
            .unwrap()
            .iter()
            .map(|job| job.fence)
            .collect();
        assert_eq!(fences.len(), 300);
        fences.sort();
        let ascending = fences.clone();
        fences.reverse();
        let descending = fences;
        // Two renewals and two completions, each pair in opposite orders,
        // all at once over the same rows.
        let (renew_down, complete_up, renew_up, complete_down) = tokio::join!(
            claimer.heartbeat(&descending),
            queue::complete_many(&db.pool, &ascending),
            claimer.heartbeat(&ascending),
            queue::complete_many(&db.pool, &descending),
        );
        for (what, result) in [
            ("heartbeat (descending)", renew_down.map(|_| ())),
            ("completion (ascending)", complete_up.map(|_| ())),
            ("heartbeat (ascending)", renew_up.map(|_| ())),
            ("completion (descending)", complete_down.map(|_| ())),
        ] {
            if let Err(error) = result {
                panic!("round {round}: {what} failed: {error}");
            }
        }
        assert_eq!(count_state(&db.pool, "running").await, 0, "round {round}");
    }
}

#[tokio::test]
async fn the_backoff_stays_within_its_cap_however_many_attempts_came_before() {
    let db = TestDb::new().await;
    let claimer = Claimer::new(db.pool.clone(), "w", LEASE, [K::KIND]);
    let backoff = Backoff {
        base: Duration::from_secs(1),
        max: Duration::from_secs(60),
    };
    // 1025 is where 2^(attempt-1) first overflows a float; the last is as
    // far as an integer attempt counter goes.
    for attempt_before in [1024, 1025, 5000, i32::MAX - 2] {
        sqlx::query("delete from jobs")
            .execute(&db.pool)
            .await
            .unwrap();
        sqlx::query("insert into jobs (kind, attempt, max_attempts) values ('k', $1, 2147483647)")
            .bind(attempt_before)
            .execute(&db.pool)
            .await
            .unwrap();
        let job = claimer.claim(1).await.unwrap().remove(0);
        assert_eq!(job.attempt, attempt_before + 1);
        let outcome = queue::fail(&db.pool, job.fence, "boom", backoff).await;
        assert_eq!(
            outcome.unwrap_or_else(|e| panic!("attempt {}: {e}", job.attempt)),
            FailOutcome::Retrying
        );
        let delay: f64 =
            sqlx::query_scalar("select extract(epoch from run_at - now())::float8 from jobs")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert!(
            (29.5..=60.5).contains(&delay),
            "attempt {}: delay {delay}s, expected the capped 60s with jitter",
            job.attempt
        );
    }
}

#[tokio::test]
async fn discard_ends_a_job_at_once_keeping_its_error_and_only_for_its_own_lease() {
    let db = TestDb::new().await;
    enqueue_many(&db.pool, 1).await;
    let claimer = Claimer::new(db.pool.clone(), "w", LEASE, [K::KIND]);
    let job = claimer.claim(1).await.unwrap().remove(0);
    let stale = Fence {
        id: job.fence.id,
        claim: job.fence.claim - 1,
    };
    assert!(!queue::discard(&db.pool, stale, "stale").await.unwrap());
    assert!(
        queue::discard(&db.pool, job.fence, "payload: missing field `order_id`")
            .await
            .unwrap()
    );
    let (state, attempt, last_error): (String, i32, String) =
        sqlx::query_as("select state, attempt, last_error from jobs")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        (state.as_str(), attempt, last_error.as_str()),
        ("discarded", 1, "payload: missing field `order_id`"),
        "four attempts were left, and none is used"
    );
}

#[tokio::test]
async fn a_sweep_deletes_only_finished_jobs_older_than_their_retention() {
    let db = TestDb::new().await;
    insert_aged(&db.pool, "completed", "25 hours", 7).await;
    insert_aged(&db.pool, "completed", "23 hours", 3).await;
    insert_aged(&db.pool, "discarded", "8 days", 5).await;
    insert_aged(&db.pool, "discarded", "6 days", 2).await;
    // Unfinished jobs stay however old they are.
    insert_aged(&db.pool, "available", "30 days", 4).await;
    sqlx::query("update jobs set state = 'running', lease_expires_at = now() where id = (select min(id) from jobs where state = 'available')")
        .execute(&db.pool)
        .await
        .unwrap();

    // A batch of 2 makes the sweep go round several times.
    let swept = queue::sweep(&db.pool, Retention::default(), 2)
        .await
        .unwrap();
    assert_eq!(
        swept,
        Some(Swept {
            completed: 7,
            discarded: 5
        })
    );
    assert_eq!(count_state(&db.pool, "completed").await, 3);
    assert_eq!(count_state(&db.pool, "discarded").await, 2);
    assert_eq!(count_state(&db.pool, "available").await, 3);
    assert_eq!(count_state(&db.pool, "running").await, 1);
}

#[tokio::test]
async fn a_sweep_leaves_the_work_to_a_sweeper_already_at_it() {
    let db = TestDb::new().await;
    insert_aged(&db.pool, "completed", "25 hours", 3).await;
    let mut other = db.pool.begin().await.unwrap();
    let held: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock($1)")
        .bind(0x6a6f_6273_7377_6570_i64)
        .fetch_one(&mut *other)
        .await
        .unwrap();
    assert!(held);
    assert_eq!(
        queue::sweep(&db.pool, Retention::default(), 100)
            .await
            .unwrap(),
        None
    );
    other.rollback().await.unwrap();
    assert_eq!(
        queue::sweep(&db.pool, Retention::default(), 100)
            .await
            .unwrap()
            .map(|swept| swept.completed),
        Some(3)
    );
}

#[tokio::test]
async fn stats_count_live_jobs_exactly_and_estimate_finished_ones_without_counting_them() {
    let db = TestDb::new().await;
    insert_aged(&db.pool, "completed", "1 hour", 1000).await;
    insert_aged(&db.pool, "discarded", "1 hour", 40).await;
    enqueue_many(&db.pool, 3).await;
    sqlx::query("analyze jobs").execute(&db.pool).await.unwrap();
    let stats = queue::stats(&db.pool).await.unwrap();
    assert_eq!(stats.depth["available"], 3);
    assert_eq!(stats.depth["running"], 0);
    assert_eq!(stats.depth["completed"], 1000);
    assert_eq!(stats.depth["discarded"], 40);
}
