//! Version skew: a worker claims only the kinds it knows, so a job of a kind
//! added by a newer release waits, untouched, for a worker that knows it.

use std::time::Duration;

use queue::{Claimer, Job, NewJob};
use testkit::TestDb;

const LEASE: Duration = Duration::from_secs(30);

/// A kind both releases know.
#[derive(serde::Serialize, serde::Deserialize)]
struct Old {}

impl Job for Old {
    const KIND: &'static str = "old";
}

/// A kind only the newer release knows.
#[derive(serde::Serialize, serde::Deserialize)]
struct New {}

impl Job for New {
    const KIND: &'static str = "new";
}

#[tokio::test]
async fn a_claim_takes_only_known_kinds_and_leaves_the_rest_untouched() {
    let db = TestDb::new().await;
    // The unknown kind is first in line.
    let jobs = [
        NewJob::new(&New {}),
        NewJob::new(&Old {}),
        NewJob::new(&New {}),
        NewJob::new(&Old {}),
    ];
    let mut conn = db.pool.acquire().await.unwrap();
    queue::enqueue_many(&mut conn, &jobs).await.unwrap();
    drop(conn);

    let old_release = Claimer::new(db.pool.clone(), "old-worker", LEASE, [Old::KIND]);
    let claimed = old_release.claim(10).await.unwrap();
    let kinds: Vec<&str> = claimed.iter().map(|job| job.kind.as_str()).collect();
    assert_eq!(kinds, ["old", "old"]);
    assert!(old_release.claim(10).await.unwrap().is_empty());
    let untouched: Vec<(String, i32, i64)> =
        sqlx::query_as("select state, attempt, lease from jobs where kind = 'new' order by id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        untouched,
        vec![
            ("available".to_owned(), 0, 0),
            ("available".to_owned(), 0, 0)
        ],
        "no attempt used, never leased"
    );

    let new_release = Claimer::new(db.pool.clone(), "new-worker", LEASE, [Old::KIND, New::KIND]);
    let claimed = new_release.claim(10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        claimed
            .iter()
            .all(|job| job.kind == "new" && job.attempt == 1)
    );
}

#[tokio::test]
async fn a_claim_over_several_kinds_takes_the_queue_in_one_order_priority_then_age() {
    let db = TestDb::new().await;
    // Each kind is walked on its own; the merge must still give the order
    // of the whole queue, not one kind's jobs before the other's.
    let jobs = [
        NewJob::new(&Old {}).priority(3),
        NewJob::new(&New {}).priority(1),
        NewJob::new(&Old {}).priority(1),
        NewJob::new(&New {}).priority(2),
        NewJob::new(&Old {}).priority(-1),
    ];
    let mut conn = db.pool.acquire().await.unwrap();
    queue::enqueue_many(&mut conn, &jobs).await.unwrap();
    drop(conn);
    let claimer = Claimer::new(db.pool.clone(), "w", LEASE, [Old::KIND, New::KIND]);
    let claimed = claimer.claim(4).await.unwrap();
    let mut taken: Vec<(i64, String)> = claimed
        .iter()
        .map(|job| (job.fence.id.0, job.kind.clone()))
        .collect();
    taken.sort();
    let ids: Vec<i64> = sqlx::query_scalar("select id from jobs order by id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    // All but the priority-3 job, the first enqueued.
    let expected: Vec<(i64, String)> = [
        (ids[1], "new"),
        (ids[2], "old"),
        (ids[3], "new"),
        (ids[4], "old"),
    ]
    .into_iter()
    .map(|(id, kind)| (id, kind.to_owned()))
    .collect();
    assert_eq!(taken, expected);
}
