//! An operator's statements (`queue::operator`): each acts only on the
//! states it names, so none can race a running attempt into a wrong state.

mod common;

use std::time::Duration;

use queue::operator::{self, Filter};
use queue::{Claimer, Job, JobId, NewJob};
use sqlx::PgPool;
use testkit::TestDb;

use common::K;

const LEASE: Duration = Duration::from_secs(30);

async fn state(pool: &PgPool, id: JobId) -> (String, Option<String>) {
    sqlx::query_as("select state, last_error from jobs where id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Three jobs: one running, one waiting, one discarded after its attempts.
async fn three_jobs(pool: &PgPool) -> (Claimer, [JobId; 3]) {
    let ids = testkit::enqueue(
        pool,
        &[
            NewJob::new(&K { n: 1 }),
            NewJob::new(&K { n: 2 }),
            NewJob::new(&K { n: 3 }).max_attempts(1),
        ],
    )
    .await;
    let claimer = Claimer::new(pool.clone(), "w", LEASE, [K::KIND]);
    let running = claimer.claim(1).await.unwrap().remove(0).fence.id;
    sqlx::query(
        "update jobs set state = 'discarded', attempt = 1, finished_at = now(), last_error = 'boom'
         where id = $1",
    )
    .bind(ids[2])
    .execute(pool)
    .await
    .unwrap();
    assert_eq!(running, ids[0]);
    (claimer, [ids[0], ids[1], ids[2]])
}

#[tokio::test]
async fn retry_and_discard_touch_only_the_states_they_name() {
    let db = TestDb::new().await;
    let (_claimer, [running, waiting, discarded]) = three_jobs(&db.pool).await;
    let all = [running, waiting, discarded];

    let retried = operator::retry(&db.pool, &all).await.unwrap();
    let moved: Vec<_> = retried
        .iter()
        .map(|c| (c.id, c.from.as_str(), c.to.as_str()))
        .collect();
    assert_eq!(
        moved,
        [
            (waiting, "available", "available"),
            (discarded, "discarded", "available")
        ]
    );
    let max_attempts: i32 = sqlx::query_scalar("select max_attempts from jobs where id = $1")
        .bind(discarded)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        max_attempts, 2,
        "a job that used its attempts gets one more"
    );

    let discarded_now = operator::discard(&db.pool, &all, "by hand").await.unwrap();
    assert_eq!(discarded_now.len(), 2, "{discarded_now:?}");
    assert_eq!(
        state(&db.pool, running).await.0,
        "running",
        "never from outside"
    );
    assert_eq!(
        state(&db.pool, waiting).await,
        ("discarded".to_owned(), Some("by hand".to_owned()))
    );
}

#[tokio::test]
async fn a_cancel_discards_a_waiting_job_and_marks_a_running_one_for_its_worker() {
    let db = TestDb::new().await;
    let (claimer, [running, waiting, discarded]) = three_jobs(&db.pool).await;
    let changed = operator::request_cancel(&db.pool, &[running, waiting, discarded], "ops")
        .await
        .unwrap();
    let moved: Vec<_> = changed
        .iter()
        .map(|c| (c.id, c.from.as_str(), c.to.as_str()))
        .collect();
    assert_eq!(
        moved,
        [
            (running, "running", "running"),
            (waiting, "available", "discarded")
        ]
    );
    assert_eq!(
        state(&db.pool, waiting).await.1.as_deref(),
        Some("cancelled by ops")
    );

    let fence = operator::find(&db.pool, &[running]).await.unwrap()[0].clone();
    let fence = queue::Fence {
        id: fence.id,
        claim: fence.lease,
    };
    let renewal = claimer.heartbeat(&[fence]).await.unwrap();
    assert_eq!(renewal.cancel_requested, [(fence, "ops".to_owned())]);

    // A worker that never stops it: its lease runs out, and the rescuer
    // discards the job rather than run it again.
    sqlx::query("update jobs set lease_expires_at = now() - interval '1 second'")
        .execute(&db.pool)
        .await
        .unwrap();
    let rescued = claimer.rescue().await.unwrap();
    assert_eq!((rescued.made_available, rescued.discarded), (0, 1));
    let (state, error) = state(&db.pool, running).await;
    assert_eq!(state, "discarded");
    assert!(error.unwrap().starts_with("cancelled by ops"));
}

#[tokio::test]
async fn list_filters_by_state_kind_and_age() {
    let db = TestDb::new().await;
    let (_claimer, [running, waiting, discarded]) = three_jobs(&db.pool).await;
    let ids = |filter: Filter| {
        let pool = db.pool.clone();
        async move {
            operator::list(&pool, &filter)
                .await
                .unwrap()
                .into_iter()
                .map(|row| row.id)
                .collect::<Vec<_>>()
        }
    };
    let all = Filter {
        limit: 10,
        ..Filter::default()
    };
    assert_eq!(
        ids(all.clone()).await,
        [discarded, waiting, running],
        "newest first"
    );
    let live = Filter {
        states: vec!["available".into(), "running".into()],
        ..all.clone()
    };
    assert_eq!(ids(live).await, [waiting, running]);
    let other_kind = Filter {
        kind: Some("other".into()),
        ..all.clone()
    };
    assert!(ids(other_kind).await.is_empty());
    let old = Filter {
        older_than: Some(Duration::from_secs(3600)),
        ..all
    };
    assert!(ids(old).await.is_empty());
}
