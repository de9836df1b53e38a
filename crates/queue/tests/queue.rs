//! The queue's statements against a real PostgreSQL.

mod common;

use std::time::Duration;

use queue::{Backoff, Claimer, FailOutcome, Fence, Job, JobId, NewJob};
use serde_json::json;
use sqlx::PgPool;
use testkit::TestDb;

use common::K;

const LEASE: Duration = Duration::from_secs(30);

async fn enqueue(pool: &PgPool, job: NewJob) -> JobId {
    let [id] = testkit::enqueue(pool, &[job]).await[..] else {
        panic!("not inserted");
    };
    id
}

/// Makes a job's lease expire now, as if its worker had died long ago.
async fn expire(pool: &PgPool, id: JobId) {
    sqlx::query("update jobs set lease_expires_at = now() - interval '1 second' where id = $1")
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
}

async fn row(pool: &PgPool, id: JobId) -> (String, i32, i64, Option<String>) {
    sqlx::query_as("select state, attempt, lease, last_error from jobs where id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_job_enqueued_in_a_rolled_back_transaction_does_not_exist() {
    let db = TestDb::new().await;
    let mut tx = db.pool.begin().await.unwrap();
    queue::enqueue(&mut tx, &NewJob::new(&K::default()))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let claimer = Claimer::new(db.pool.clone(), "w", LEASE, [K::KIND]);
    assert!(claimer.claim(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_unique_key_admits_one_job() {
    let db = TestDb::new().await;
    let mut tx = db.pool.begin().await.unwrap();
    let first = queue::enqueue(&mut tx, &NewJob::new(&K::default()).unique_key("order:1"))
        .await
        .unwrap();
    let second = queue::enqueue(&mut tx, &NewJob::new(&K::default()).unique_key("order:1"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(first.is_some());
    assert_eq!(second, None);
}

#[tokio::test]
async fn claim_takes_only_free_slots_in_priority_order_and_bumps_attempt_and_lease() {
    let db = TestDb::new().await;
    let low = enqueue(&db.pool, NewJob::new(&K { n: 1 }).priority(5)).await;
    let high = enqueue(&db.pool, NewJob::new(&K { n: 2 }).priority(-5)).await;
    let claimer = Claimer::new(db.pool.clone(), "w1", LEASE, [K::KIND]);

    let claimed = claimer.claim(1).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].fence.id, high);
    assert_eq!((claimed[0].attempt, claimed[0].fence.claim), (1, 1));
    assert_eq!(claimed[0].payload, json!({"n": 2}));
    let (state, _, _, _) = row(&db.pool, low).await;
    assert_eq!(
        state, "available",
        "a job beyond the free slots stays available"
    );
}

#[tokio::test]
async fn concurrent_claimers_never_get_the_same_job() {
    let db = TestDb::new().await;
    let jobs: Vec<NewJob> = (0..200).map(|n| NewJob::new(&K { n })).collect();
    testkit::enqueue(&db.pool, &jobs).await;

    let claimers = (0..4).map(|n| {
        let claimer = Claimer::new(db.pool.clone(), format!("w{n}"), LEASE, [K::KIND]);
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = claimer.claim(7).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|j| j.fence.id));
            }
        })
    });
    let mut all: Vec<JobId> = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(total, 200);
    assert_eq!(all.len(), 200, "a job was claimed twice");
}

#[tokio::test]
async fn a_stale_lease_can_neither_complete_fail_nor_release_a_rescued_and_reclaimed_job() {
    let db = TestDb::new().await;
    let id = enqueue(&db.pool, NewJob::new(&K::default())).await;
    let first = Claimer::new(db.pool.clone(), "first", LEASE, [K::KIND]);
    let second = Claimer::new(db.pool.clone(), "second", LEASE, [K::KIND]);

    let stale = first.claim(1).await.unwrap().remove(0);
    expire(&db.pool, id).await;
    assert_eq!(second.rescue().await.unwrap().made_available, 1);
    let fresh = second.claim(1).await.unwrap().remove(0);
    assert_eq!(fresh.fence.id, id);
    assert_eq!(fresh.fence.claim, stale.fence.claim + 1);

    // The stale attempt's effect, written in the transaction it completes
    // with, rolls back with the failed completion.
    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query("update jobs set last_error = 'effect of the stale attempt' where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(queue::complete(tx, stale.fence).await.unwrap(), None);
    assert_eq!(
        row(&db.pool, id).await.3.as_deref(),
        Some("lease expired (held by first)"),
        "the stale attempt's effect rolled back"
    );
    assert_eq!(
        queue::fail(&db.pool, stale.fence, "stale", Backoff::default())
            .await
            .unwrap(),
        FailOutcome::Lost
    );
    assert!(!queue::release(&db.pool, stale.fence, None).await.unwrap());
    assert!(
        queue::complete_many(&db.pool, &[stale.fence])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        first.heartbeat(&[stale.fence]).await.unwrap().lost,
        vec![stale.fence],
        "the heartbeat reports it lost"
    );
    let (state, attempt, _, _) = row(&db.pool, id).await;
    assert_eq!(
        (state.as_str(), attempt),
        ("running", 2),
        "the stale worker changed nothing"
    );

    let completed = queue::complete(db.pool.begin().await.unwrap(), fresh.fence)
        .await
        .unwrap()
        .expect("the fresh attempt completes");
    assert_eq!(completed.fence(), fresh.fence);
    assert_eq!(row(&db.pool, id).await.0, "completed");
}

#[tokio::test]
async fn release_makes_the_job_available_at_once_with_its_attempt_given_back() {
    let db = TestDb::new().await;
    let id = enqueue(&db.pool, NewJob::new(&K::default())).await;
    let claimer = Claimer::new(db.pool.clone(), "w", LEASE, [K::KIND]);
    let job = claimer.claim(1).await.unwrap().remove(0);
    assert!(queue::release(&db.pool, job.fence, None).await.unwrap());
    let again = claimer.claim(1).await.unwrap().remove(0);
    assert_eq!(
        (again.fence.id, again.attempt),
        (id, 1),
        "the interrupted attempt is not counted"
    );
}

#[tokio::test]
async fn failures_back_off_then_discard_at_max_attempts_keeping_the_last_error() {
    let db = TestDb::new().await;
    let id = enqueue(&db.pool, NewJob::new(&K::default()).max_attempts(3)).await;
    let claimer = Claimer::new(db.pool.clone(), "w", LEASE, [K::KIND]);
    let backoff = Backoff {
        base: Duration::from_secs(10),
        max: Duration::from_secs(15),
    };
    // Nominal delays: 10s, then 20s capped to 15s; jitter keeps each in [½, 1].
    for (attempt, nominal) in [(1, 10.0), (2, 15.0)] {
        let job = claimer.claim(1).await.unwrap().remove(0);
        assert_eq!(job.attempt, attempt);
        let outcome = queue::fail(&db.pool, job.fence, &format!("boom {attempt}"), backoff)
            .await
            .unwrap();
        assert_eq!(outcome, FailOutcome::Retrying);
        let delay: f64 = sqlx::query_scalar(
            "select extract(epoch from run_at - now())::float8 from jobs where id = $1",
        )
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert!(
            delay >= nominal / 2.0 - 0.5 && delay <= nominal + 0.5,
            "attempt {attempt}: delay {delay}s"
        );
        assert!(
            claimer.claim(1).await.unwrap().is_empty(),
            "not runnable before its backoff"
        );
        sqlx::query("update jobs set run_at = now() where id = $1")
            .bind(id)
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let job = claimer.claim(1).await.unwrap().remove(0);
    assert_eq!(job.attempt, 3);
    assert_eq!(
        queue::fail(&db.pool, job.fence, "boom 3", backoff)
            .await
            .unwrap(),
        FailOutcome::Discarded
    );
    let (state, attempt, _, last_error) = row(&db.pool, id).await;
    assert_eq!(
        (state.as_str(), attempt, last_error.as_deref()),
        ("discarded", 3, Some("boom 3"))
    );
}

#[tokio::test]
async fn rescue_discards_a_job_whose_attempts_are_used_up() {
    let db = TestDb::new().await;
    let id = enqueue(&db.pool, NewJob::new(&K::default()).max_attempts(1)).await;
    let claimer = Claimer::new(db.pool.clone(), "dead-worker", LEASE, [K::KIND]);
    claimer.claim(1).await.unwrap();
    expire(&db.pool, id).await;
    let rescued = claimer.rescue().await.unwrap();
    assert_eq!((rescued.made_available, rescued.discarded), (0, 1));
    let (state, _, _, last_error) = row(&db.pool, id).await;
    assert_eq!(state, "discarded");
    assert!(last_error.unwrap().contains("dead-worker"));
}

#[tokio::test]
async fn a_heartbeat_renews_held_leases_in_one_statement() {
    let db = TestDb::new().await;
    let a = enqueue(&db.pool, NewJob::new(&K::default())).await;
    let b = enqueue(&db.pool, NewJob::new(&K::default())).await;
    let claimer = Claimer::new(db.pool.clone(), "w", LEASE, [K::KIND]);
    let held: Vec<Fence> = claimer
        .claim(2)
        .await
        .unwrap()
        .iter()
        .map(|job| job.fence)
        .collect();
    expire(&db.pool, a).await;
    expire(&db.pool, b).await;
    let renewal = claimer.heartbeat(&held).await.unwrap();
    assert!(renewal.lost.is_empty());
    assert_eq!(renewal.renewed.len(), 2);
    assert_eq!(
        claimer.rescue().await.unwrap().made_available,
        0,
        "renewed leases are not rescued"
    );
}

#[tokio::test]
async fn stats_count_jobs_by_state_and_age_the_oldest_runnable_of_each_kind() {
    let db = TestDb::new().await;
    enqueue(&db.pool, NewJob::new(&K::default())).await;
    enqueue(&db.pool, NewJob::new(&K::default())).await;
    enqueue(&db.pool, NewJob::new(&Unclaimed {})).await;
    sqlx::query("update jobs set run_at = now() - interval '90 seconds' where id = (select min(id) from jobs)")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("update jobs set run_at = now() - interval '600 seconds' where kind = $1")
        .bind(Unclaimed::KIND)
        .execute(&db.pool)
        .await
        .unwrap();
    Claimer::new(db.pool.clone(), "w", LEASE, [K::KIND])
        .claim(1)
        .await
        .unwrap();
    let stats = queue::stats(&db.pool).await.unwrap();
    assert_eq!(stats.depth.get("available"), Some(&2));
    assert_eq!(stats.depth.get("running"), Some(&1));
    let k = stats.runnable_by_kind[K::KIND];
    assert_eq!(k.jobs, 1, "{stats:?}");
    assert!(
        k.oldest_age_secs < 5.0,
        "the 90s-old job was claimed first: {stats:?}"
    );
    let unclaimed = stats.runnable_by_kind[Unclaimed::KIND];
    assert_eq!(unclaimed.jobs, 1, "{stats:?}");
    assert!(
        (600.0..700.0).contains(&unclaimed.oldest_age_secs),
        "a kind nobody claims keeps its own age: {stats:?}"
    );
}

/// A kind no claimer in these tests runs.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Unclaimed {}

impl Job for Unclaimed {
    const KIND: &'static str = "unclaimed";
}

/// A payload type whose `Serialize` fails, as a hand-written one can.
#[derive(Debug, serde::Deserialize)]
struct Unserializable {}

impl serde::Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this payload cannot be written"))
    }
}

impl Job for Unserializable {
    const KIND: &'static str = "unserializable";
}

#[tokio::test]
async fn a_payload_that_cannot_be_serialized_fails_the_enqueue_and_writes_nothing() {
    let db = TestDb::new().await;
    let mut tx = db.pool.begin().await.unwrap();
    let jobs = [NewJob::new(&K::default()), NewJob::new(&Unserializable {})];
    let error = queue::enqueue_many(&mut tx, &jobs).await.unwrap_err();
    assert!(matches!(error, sqlx::Error::Encode(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("unserializable") && message.contains("cannot be written"),
        "{message}"
    );
    tx.commit().await.unwrap();
    let jobs: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0, "the good job was not written either");
}
