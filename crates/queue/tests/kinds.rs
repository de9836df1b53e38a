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
