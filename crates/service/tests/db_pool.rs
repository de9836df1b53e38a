//! The pool a service serves with: its minimum stays open through a quiet
//! spell, as `DATABASE_MIN_CONNECTIONS` promises.

use std::time::Duration;

use service::DatabaseArgs;
use testkit::TestDb;

#[tokio::test]
async fn the_minimum_is_not_closed_for_being_idle() {
    let db = TestDb::new().await;
    let args = DatabaseArgs {
        database_url: db.url.parse().unwrap(),
        database_max_connections: 4,
        database_min_connections: 3,
        database_acquire_timeout: Duration::from_secs(5),
        database_statement_timeout: Duration::from_secs(5),
    };
    let pool = service::db::connect(&args).await.unwrap();
    let options = pool.options();
    assert_eq!(options.get_min_connections(), 3);
    // sqlx's default of ten minutes would close all three after a quiet
    // spell and reopen them at once; waiting ten minutes here would prove
    // only sqlx's reaper, so the setting is what is checked.
    assert_eq!(
        options.get_idle_timeout(),
        None,
        "idle connections are reaped"
    );
    service::db::close(pool).await.unwrap();
}
