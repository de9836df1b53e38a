//! Version skew: a worker claims only the kinds it knows, so a job of a kind
//! added by a newer release waits, untouched, for a worker that knows it.

use std::time::Duration;

use queue::{ClaimFloors, Claimer, Job, JobId, NewJob};
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

/// Ten jobs of `Old`, the first five claimed through `floors`; then an
/// urgent one, which sorts before all of them. Returns its id.
async fn five_claimed_then_an_urgent_job(
    db: &TestDb,
    claimer: &Claimer,
    floors: &mut ClaimFloors,
) -> JobId {
    let mut conn = db.pool.acquire().await.unwrap();
    let backlog: Vec<NewJob> = (0..10).map(|_| NewJob::new(&Old {})).collect();
    queue::enqueue_many(&mut conn, &backlog).await.unwrap();
    assert_eq!(claimer.claim_from(floors, 5).await.unwrap().len(), 5);
    queue::enqueue(&mut conn, &NewJob::new(&Old {}).priority(-1))
        .await
        .unwrap()
        .unwrap()
}

/// Floors: while claims keep coming back full, each walks on from where the
/// last one ended, so a job that sorts before that point waits; the first
/// claim that comes back short walks from the start again and finds it.
#[tokio::test]
async fn a_job_behind_the_floor_is_claimed_once_a_claim_comes_back_short() {
    let db = TestDb::new().await;
    let claimer = Claimer::new(db.pool.clone(), "w", LEASE, [Old::KIND]);
    let mut floors = ClaimFloors::new(Duration::from_secs(3600));
    let urgent = five_claimed_then_an_urgent_job(&db, &claimer, &mut floors).await;
    let on_from_the_floor = claimer.claim_from(&mut floors, 3).await.unwrap();
    assert_eq!(on_from_the_floor.len(), 3);
    assert!(
        on_from_the_floor.iter().all(|job| job.fence.id != urgent),
        "the walk went on from the floor"
    );
    let short = claimer.claim_from(&mut floors, 5).await.unwrap();
    assert_eq!(short.len(), 2, "the rest of the backlog");
    let from_the_start = claimer.claim_from(&mut floors, 5).await.unwrap();
    let ids: Vec<_> = from_the_start.iter().map(|job| job.fence.id).collect();
    assert_eq!(ids, [urgent]);
}

#[tokio::test]
async fn a_floor_lives_no_longer_than_its_full_walk_interval() {
    let db = TestDb::new().await;
    let claimer = Claimer::new(db.pool.clone(), "w", LEASE, [Old::KIND]);
    let mut floors = ClaimFloors::new(Duration::ZERO);
    let urgent = five_claimed_then_an_urgent_job(&db, &claimer, &mut floors).await;
    let next = claimer.claim_from(&mut floors, 1).await.unwrap();
    assert_eq!(next[0].fence.id, urgent, "a full walk was due at once");
}
