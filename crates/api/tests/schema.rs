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
    let db = TestDb::new().await;
    let newest = db.unapply_newest_migration().await;
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

/// The queue's schema and the example's were one migration, then two. A
/// database migrated by a release from before the split must upgrade
/// cleanly: the new files are no-ops on it, and its old row is accepted.
#[tokio::test]
async fn a_database_from_before_the_schema_split_migrates_and_becomes_ready() {
    let db = TestDb::new().await;
    // `cascade`: and the queue's claim function, which returns rows of jobs.
    sqlx::raw_sql("drop table jobs, orders, _sqlx_migrations cascade")
        .execute(&db.pool)
        .await
        .unwrap();
    let before_split = tempfile_dir_with(
        "20261123000001_jobs_and_orders.sql",
        include_str!("fixtures/20261123000001_jobs_and_orders.sql"),
    );
    sqlx::migrate::Migrator::new(before_split.path())
        .await
        .unwrap()
        .run(&db.pool)
        .await
        .unwrap();

    let migrated = migrate(&db.url).await;
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stdout)
    );
    let versions: Vec<i64> =
        sqlx::query_scalar("select version from _sqlx_migrations order by version")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        &versions[..3],
        [20261123000000, 20261123000001, 20261123000002],
        "the split files recorded beside the old one"
    );
    let api = start_on(db, &[]).await;
    let response = reqwest::get(format!("{}/readyz", api.ops)).await.unwrap();
    assert_eq!(response.status(), 200);
}

/// A directory holding one migration file, removed when dropped.
fn tempfile_dir_with(name: &str, sql: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), sql).unwrap();
    dir
}
