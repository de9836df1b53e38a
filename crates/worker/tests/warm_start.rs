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
    let started: Vec<f64> = sqlx::query_scalar(
        "select extract(epoch from backend_start)::float8 from pg_stat_activity
         where datname = current_database() and application_name = $1
         order by backend_start",
    )
    .bind(APPLICATION)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        started.len(),
        8,
        "a connection per job slot open when `worker ready` is logged"
    );
    // The pool's maximum is eight, so these are start-up's own: each
    // opened at least the spacing after the one before, less a margin for
    // the server's clock against the worker's timer.
    let spacing = service::db::CONNECTION_SPACING.as_secs_f64() * 0.75;
    let gaps: Vec<f64> = started.windows(2).map(|pair| pair[1] - pair[0]).collect();
    assert!(
        gaps.iter().all(|gap| *gap >= spacing),
        "opened one at a time, {:?} apart: gaps {gaps:?}",
        service::db::CONNECTION_SPACING
    );
}
