//! Cursors of jobs that work in steps: written with the step's effect,
//! lazily with the heartbeat, or at release, and always fenced.

mod common;

use std::time::Duration;

use queue::{ClaimedJob, Claimer, Fence, Job, NewJob};
use serde_json::{Value, json};
use sqlx::PgPool;
use testkit::TestDb;

use common::K;

const LEASE: Duration = Duration::from_secs(30);

async fn claimed(pool: &PgPool, jobs: usize) -> (Claimer, Vec<ClaimedJob>) {
    let new: Vec<NewJob> = (0..jobs).map(|n| NewJob::new(&K { n: n as i64 })).collect();
    testkit::enqueue(pool, &new).await;
    let claimer = Claimer::new(pool.clone(), "w", LEASE, [K::KIND]);
    let claimed = claimer.claim(jobs as u32).await.unwrap();
    assert_eq!(claimed.len(), jobs);
    (claimer, claimed)
}

async fn cursor(pool: &PgPool, fence: Fence) -> Option<Value> {
    sqlx::query_scalar("select cursor from jobs where id = $1")
        .bind(fence.id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A step's effect: a row in `effects`, which the test creates.
async fn effects_table(pool: &PgPool) {
    sqlx::query("create table effects (step int)")
        .execute(pool)
        .await
        .unwrap();
}

/// A transaction that has written a step's effect, not yet committed.
async fn step_effect(pool: &PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("insert into effects values (1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

#[tokio::test]
async fn a_checkpoint_commits_with_its_steps_effect_and_the_next_attempt_starts_there() {
    let db = TestDb::new().await;
    effects_table(&db.pool).await;
    let (claimer, jobs) = claimed(&db.pool, 1).await;
    let fence = jobs[0].fence;
    assert_eq!(jobs[0].cursor, None, "a first run has no cursor");

    let mut tx = step_effect(&db.pool).await;
    assert!(
        queue::checkpoint(&mut *tx, fence, &json!({"step": 1}))
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();

    assert!(queue::release(&db.pool, fence, None).await.unwrap());
    let again = claimer.claim(1).await.unwrap().remove(0);
    assert_eq!(again.cursor, Some(json!({"step": 1})));
    assert_eq!(again.attempt, 1, "the interruption spent no attempt");

    assert!(
        queue::release(&db.pool, again.fence, Some(&json!({"step": 2})))
            .await
            .unwrap()
    );
    assert_eq!(
        cursor(&db.pool, again.fence).await,
        Some(json!({"step": 2})),
        "a lazily recorded cursor goes with the release"
    );
}

#[tokio::test]
async fn a_stale_attempts_checkpoint_changes_nothing_and_its_step_rolls_back() {
    let db = TestDb::new().await;
    effects_table(&db.pool).await;
    let (claimer, jobs) = claimed(&db.pool, 1).await;
    let stale = jobs[0].fence;
    // Rescued after its lease, and claimed again.
    sqlx::query("update jobs set lease_expires_at = now() - interval '1 second'")
        .execute(&db.pool)
        .await
        .unwrap();
    claimer.rescue().await.unwrap();
    let fresh = claimer.claim(1).await.unwrap().remove(0);
    assert_ne!(fresh.fence, stale);

    let mut tx = step_effect(&db.pool).await;
    let recorded = queue::checkpoint(&mut *tx, stale, &json!({"step": 1}))
        .await
        .unwrap();
    assert!(!recorded, "the stale attempt's checkpoint is refused");
    tx.rollback().await.unwrap();

    assert_eq!(
        testkit::count(&db.pool, "select count(*) from effects").await,
        0
    );
    assert_eq!(cursor(&db.pool, fresh.fence).await, None);
}

#[tokio::test]
async fn the_heartbeat_writes_lazy_cursors_where_it_renews_and_nowhere_else() {
    let db = TestDb::new().await;
    let (claimer, jobs) = claimed(&db.pool, 3).await;
    let (ours, lost, unstepped) = (jobs[0].fence, jobs[1].fence, jobs[2].fence);
    // `lost` was claimed again elsewhere: its lease is no longer this one.
    sqlx::query("update jobs set lease = lease + 1 where id = $1")
        .bind(lost.id)
        .execute(&db.pool)
        .await
        .unwrap();
    let checkpointed = json!({"step": 1});
    let mut tx = db.pool.begin().await.unwrap();
    assert!(
        queue::checkpoint(&mut *tx, unstepped, &checkpointed)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();

    let renewal = claimer
        .heartbeat_with_cursors(
            &[ours, lost, unstepped],
            &[(ours, json!({"step": 7})), (lost, json!({"step": 9}))],
        )
        .await
        .unwrap();

    assert_eq!(renewal.lost, vec![lost]);
    assert_eq!(renewal.renewed.len(), 2, "{renewal:?}");
    assert_eq!(cursor(&db.pool, ours).await, Some(json!({"step": 7})));
    assert_eq!(
        cursor(&db.pool, lost).await,
        None,
        "not written past the fence"
    );
    assert_eq!(
        cursor(&db.pool, unstepped).await,
        Some(checkpointed),
        "a beat with no cursor for a job keeps the one it has"
    );
}
