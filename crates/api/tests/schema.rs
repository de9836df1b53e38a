//! Schema compatibility at readiness, with the real `api` against a real
//! PostgreSQL: a database behind this release keeps the process unready
//! (naming what is missing) until the migrate Job catches it up, with no
//! restart; a database ahead of it, as an old pod sees mid-rollout, is fine.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::TestDb;

use common::{API, start_on};

async fn migrate(url: &str) -> std::process::Output {
    tokio::process::Command::new(API)
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", url)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_database_behind_the_release_is_unready_naming_the_missing_migration_until_it_is_applied()
{
    let (db, newest) = TestDb::behind_newest_migration().await;
    let url = db.url.clone();
    let mut api = start_on(db, &[]).await;
    let readyz = format!("{}/readyz", api.ops);

    let response = reqwest::get(&readyz).await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "schema_behind", "{body}");
    assert_eq!(
        body["missing_migrations"],
        serde_json::json!([newest]),
        "{body}"
    );

    let migrated = migrate(&url).await;
    assert!(migrated.status.success(), "{migrated:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while reqwest::get(&readyz).await.unwrap().status() != 200 {
        assert!(Instant::now() < deadline, "never ready after the migration");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        api.service.exited().is_none(),
        "became ready without a restart"
    );
}

#[tokio::test]
async fn a_database_ahead_of_the_release_stays_ready_and_its_migrate_job_succeeds() {
    let db = TestDb::new().await;
    // A newer release's migration, already applied: expand before contract.
    sqlx::query(
        "insert into _sqlx_migrations (version, description, success, checksum, execution_time)
         values (99991231000000, 'from a newer release', true, '\\x00', 0)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let url = db.url.clone();
    let api = start_on(db, &[]).await;
    let response = reqwest::get(format!("{}/readyz", api.ops)).await.unwrap();
    assert_eq!(response.status(), 200);

    let migrated = migrate(&url).await;
    assert!(
        migrated.status.success(),
        "an older release's migrate Job must not fail on a newer database: {}",
        String::from_utf8_lossy(&migrated.stdout)
    );
}

/// An interrupted `create index concurrently` leaves an INVALID index that a
/// retried migration's `if not exists` would skip. `api migrate` rebuilds
/// it, and fails naming it while it cannot be rebuilt. A unique index built
/// over duplicates stands for the interrupted build: it too is left
/// INVALID, and it cannot be rebuilt until the duplicate is gone.
#[tokio::test]
async fn migrate_rebuilds_an_invalid_index_and_fails_naming_one_it_cannot() {
    let db = TestDb::new().await;
    sqlx::raw_sql("create table scratch (n integer); insert into scratch values (1), (1)")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::raw_sql("create unique index concurrently scratch_n_idx on scratch (n)")
        .execute(&db.pool)
        .await
        .expect_err("duplicates fail the build");
    let valid = || async {
        sqlx::query_scalar::<_, bool>(
            "select indisvalid from pg_index where indexrelid = 'scratch_n_idx'::regclass",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap()
    };
    assert!(!valid().await, "the failed build left an INVALID index");

    let migrated = migrate(&db.url).await;
    let output = String::from_utf8_lossy(&migrated.stdout);
    assert_eq!(migrated.status.code(), Some(1), "{output}");
    assert!(output.contains("scratch_n_idx"), "{output}");

    sqlx::query("delete from scratch where ctid = (select min(ctid) from scratch)")
        .execute(&db.pool)
        .await
        .unwrap();
    let migrated = migrate(&db.url).await;
    let output = String::from_utf8_lossy(&migrated.stdout);
    assert_eq!(migrated.status.code(), Some(0), "{output}");
    assert!(
        output.contains("scratch_n_idx"),
        "the rebuild is logged: {output}"
    );
    assert!(valid().await, "rebuilt");
}
