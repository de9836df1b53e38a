//! Closing the pool at shutdown: every connection closed, within the close
//! phase, one at a time, so that the database's backends do not all exit
//! in the same instant.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use testkit::TestDb;

const APPLICATION: &str = "db-close-test";

async fn backends(observer: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from pg_stat_activity where application_name = $1")
        .bind(APPLICATION)
        .fetch_one(observer)
        .await
        .unwrap()
}

#[tokio::test]
async fn close_ends_every_connection_one_at_a_time_those_inside_the_minimum_too() {
    let db = TestDb::new().await;
    let options: PgConnectOptions = db.url.parse::<PgConnectOptions>().unwrap();
    let opened = Arc::new(AtomicUsize::new(0));
    let counter = opened.clone();
    let pool = PgPoolOptions::new()
        .min_connections(2)
        .max_connections(6)
        .after_connect(move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
            Box::pin(async { Ok(()) })
        })
        .connect_with(options.application_name(APPLICATION))
        .await
        .unwrap();
    // Six held at once: the pool opens six.
    let mut held = Vec::new();
    for _ in 0..6 {
        held.push(pool.acquire().await.unwrap());
    }
    assert_eq!(backends(&db.pool).await, 6);
    // Dropped just before close, as a request's connection may be: each is
    // still on its way back (sqlx pings it first) when close starts.
    drop(held);

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), service::db::close(pool))
        .await
        .expect("the pool closes: no replacement is opened for one closed")
        .unwrap();
    let took = started.elapsed();

    // Six, with the spacing between each two.
    assert!(
        took >= service::db::CONNECTION_SPACING * 5,
        "the six were closed one at a time: {took:?}"
    );
    testkit::wait_until(
        &db.pool,
        "every backend of the closed pool to exit",
        Duration::from_secs(10),
        "select (not exists (select from pg_stat_activity
                             where application_name = 'db-close-test'))::int::int8",
    )
    .await;
    // Closing one inside the minimum of an open pool makes sqlx open a
    // replacement: a backend started at shutdown, for nothing.
    assert_eq!(opened.load(Ordering::Relaxed), 6, "no replacement opened");
}
