//! A new worker opens its pool's connections one at a time before it claims
//! anything, so that a start into a backlog does not open a connection per
//! job slot in the same instant.

use testkit::TestDb;

mod common;

const APPLICATION: &str = "worker-warm-start-test";

#[tokio::test]
async fn the_pool_is_open_one_connection_per_slot_before_worker_ready() {
    let db = TestDb::new().await;
    let _worker = common::start(
        &db,
        &[
            // Read by sqlx as libpq does.
            ("PGAPPNAME", APPLICATION),
            ("WORKER_CONCURRENCY", "8"),
            ("DATABASE_MAX_CONNECTIONS", "8"),
            ("DATABASE_MIN_CONNECTIONS", "2"),
        ],
    )
    .await;
    // An idle queue: nothing the worker does after start-up needs more
    // than a few connections at once, so eight open means start-up opened
    // them. The claim loop's LISTEN holds one of them, now or a moment
    // later, so every session of the worker is counted.
    let sessions: i64 = sqlx::query_scalar(
        "select count(*) from pg_stat_activity
         where datname = current_database() and application_name = $1",
    )
    .bind(APPLICATION)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        sessions >= 8,
        "a connection per job slot open when `worker ready` is logged: {sessions}"
    );
}
