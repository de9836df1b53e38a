//! The real `worker` where its bookkeeping meets faults and time: an attempt
//! that outlives its lease while the same process runs the next one, a
//! payload this release cannot decode, and finished jobs past their
//! retention.

mod common;

use std::time::Duration;

use queue::NewJob;
use testkit::{TestDb, count};

use common::{orders, start, wait_until};

/// A short lease, so a lapse takes seconds; each bound a third of it.
const SHORT_LEASE: [(&str, &str); 4] = [
    ("QUEUE_LEASE", "3s"),
    ("QUEUE_HEARTBEAT", "1s"),
    ("DATABASE_ACQUIRE_TIMEOUT", "1s"),
    ("DATABASE_STATEMENT_TIMEOUT", "1s"),
];

#[tokio::test]
async fn an_attempt_whose_job_was_rescued_and_claimed_again_here_leaves_the_new_attempt_its_lease()
{
    let db = TestDb::new().await;
    let order = orders(&db.pool, 1, 5).await.remove(0);
    let env = [SHORT_LEASE.as_slice(), &[("WORK_TIME", "8s")]].concat();
    let worker = start(&db, &env).await;
    wait_until(
        &db.pool,
        "the first attempt",
        Duration::from_secs(10),
        "select count(*) from jobs where state = 'running' and lease = 1",
    )
    .await;
    // Four seconds in (past a lease), the job is rescued as after an
    // outage, while attempt 1 still runs; this worker, the only one, claims
    // it again as attempt 2.
    tokio::time::sleep(Duration::from_secs(4)).await;
    sqlx::raw_sql(
        "update jobs set state = 'available', locked_by = null, lease_expires_at = null
         where state = 'running'; select pg_notify('jobs_available', '')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    wait_until(
        &db.pool,
        "the second attempt",
        Duration::from_secs(5),
        "select count(*) from jobs where state = 'running' and lease = 2",
    )
    .await;
    // Attempt 1 must end (cancelled: its lease is lost) without taking
    // attempt 2's lease with it. Had it, attempt 2 would go unrenewed, be
    // rescued while it runs, and run a third time.
    wait_until(
        &db.pool,
        "the job to complete",
        Duration::from_secs(20),
        "select count(*) from jobs where state = 'completed'",
    )
    .await;
    let (lease, attempt): (i64, i32) = sqlx::query_as("select lease, attempt from jobs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!((lease, attempt), (2, 2), "claimed exactly twice");
    let fulfilled: i32 = sqlx::query_scalar("select fulfil_count from orders where id = $1")
        .bind(order)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(fulfilled, 1);
    let lost: Vec<i64> = worker
        .events()
        .iter()
        .filter(|event| event["message"] == LEASE_LOST)
        .map(|event| event["claim"].as_i64().unwrap())
        .collect();
    assert_eq!(
        lost,
        [1],
        "attempt 1, and only it, ended with its lease lost: {:#?}",
        worker.events()
    );
}

/// What an attempt logs when its fenced ending is refused, or gets no
/// answer.
const LEASE_LOST: &str =
    "attempt's end not recorded: its lease is another attempt's, or will expire";

/// What a broken producer, or one from a release with another payload
/// shape, could have queued under `fulfil_order`.
#[derive(serde::Serialize, serde::Deserialize)]
struct MalformedFulfilOrder {
    order: String,
}

impl queue::Job for MalformedFulfilOrder {
    const KIND: &'static str = <domain::FulfilOrder as queue::Job>::KIND;
}

/// Release N meets a payload only release N+1 can decode, mid-rollout: the
/// job goes back for another worker, counted, its attempt not spent, and is
/// never discarded (docs/migrations.md).
#[tokio::test]
async fn a_payload_this_release_cannot_decode_is_handed_back_with_a_backoff_and_counted() {
    let db = TestDb::new().await;
    testkit::enqueue(
        &db.pool,
        &[NewJob::new(&MalformedFulfilOrder {
            order: "not-a-uuid".into(),
        })
        .max_attempts(1)],
    )
    .await;
    let worker = start(&db, &[]).await;
    wait_until(
        &db.pool,
        "the job to be handed back",
        Duration::from_secs(10),
        "select count(*) from jobs where state = 'available' and last_error is not null",
    )
    .await;
    let (attempt, waits, last_error): (i32, bool, String) =
        sqlx::query_as("select attempt, run_at > now(), last_error from jobs")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(attempt, 0, "its one attempt given back");
    assert!(waits, "handed back with a backoff");
    assert!(
        last_error.starts_with("payload cannot be decoded") && last_error.contains("order_id"),
        "{last_error}"
    );
    let metrics = common::metrics(&worker).await;
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("queue_jobs_undecodable_total{")
                && line.contains("kind=\"fulfil_order\"")
                && line.ends_with(" 1")),
        "{metrics}"
    );
}

#[tokio::test]
async fn finished_jobs_past_their_retention_are_deleted_soon_after_start_and_the_rest_stay() {
    let db = TestDb::new().await;
    sqlx::query(
        "insert into jobs (kind, state, attempt, finished_at)
         select 'k', state, 1, now() - age::interval
         from (values ('completed', '2 hours'), ('completed', '10 minutes'),
                      ('discarded', '3 hours'), ('discarded', '2 hours')) as old(state, age),
              generate_series(1, 50)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    // An available job of an unknown kind, old: unfinished, so it stays.
    sqlx::query("insert into jobs (kind, run_at, created_at) values ('k', now() + interval '1 day', now() - interval '30 days')")
        .execute(&db.pool)
        .await
        .unwrap();
    let _worker = start(
        &db,
        &[
            ("QUEUE_RETAIN_COMPLETED", "1h"),
            ("QUEUE_RETAIN_DISCARDED", "150m"),
        ],
    )
    .await;
    wait_until(
        &db.pool,
        "the first sweep",
        Duration::from_secs(10),
        "select (count(*) = 101)::int::int8 from jobs",
    )
    .await;
    let left: Vec<(String, i64)> =
        sqlx::query_as("select state, count(*) from jobs group by state order by state")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        left,
        vec![
            ("available".to_owned(), 1),
            ("completed".to_owned(), 50),
            ("discarded".to_owned(), 50)
        ]
    );
    assert_eq!(
        count(
            &db.pool,
            "select count(*) from jobs where finished_at < now() - interval '150 minutes'"
        )
        .await,
        0
    );
}

/// At high throughput, attempts end between a heartbeat's read of the held
/// leases and its answer. Those leases were not lost: their attempts ended.
/// Reported as lost, they buried the real losses under a warning a beat.
#[tokio::test]
async fn attempts_that_end_during_a_heartbeat_are_not_reported_as_lost_leases() {
    let db = TestDb::new().await;
    let jobs: Vec<NewJob> = (0..3_000).map(|_| NewJob::new(&domain::Noop {})).collect();
    testkit::enqueue(&db.pool, &jobs).await;
    let worker = start(
        &db,
        &[("WORKER_CONCURRENCY", "64"), ("QUEUE_HEARTBEAT", "20ms")],
    )
    .await;
    wait_until(
        &db.pool,
        "every job to complete",
        Duration::from_secs(60),
        "select (count(*) filter (where state <> 'completed') = 0)::int::int8 from jobs",
    )
    .await;
    let lost = worker
        .events()
        .into_iter()
        .filter(|event| event["message"] == LEASE_LOST)
        .count();
    assert_eq!(lost, 0, "no lease was lost: {}", worker.stderr());
}
