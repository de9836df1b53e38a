//! Settings and commands: `--help`, bad config, `api migrate`.

mod common;

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, PgConnection};

use common::API;

/// Bad config: one line naming the setting, exit 2, nothing served.
#[tokio::test]
async fn bad_settings_exit_2_naming_the_setting() {
    let url = std::env::var("DATABASE_URL").unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let cases = [
        ("LISTEN_ADDR", "not-an-address"),
        ("API_BODY_LIMIT", "0"),
        ("API_CONCURRENCY_LIMIT", "lots"),
        ("API_REQUEST_TIMEOUT", "0s"),
        ("DATABASE_MAX_CONNECTIONS", "-1"),
        ("LISTEN_ADDR", taken_addr.as_str()),
    ];
    for (setting, value) in cases {
        let output = tokio::process::Command::new(API)
            .env_clear()
            .env("DATABASE_URL", &url)
            .env("OPS_LISTEN_ADDR", testkit::ANY_PORT)
            .env(setting, value)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{setting}={value}: {stderr}");
        assert!(stderr.contains(setting), "{setting}={value}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

/// A database that does not answer at start is not bad config (2) and not
/// a failed shutdown (1): 69, with the setting named, before anything is
/// served. The worker, on the same path, is checked the same way.
#[tokio::test]
async fn a_database_that_is_down_at_start_exits_69_naming_database_url() {
    let nobody_listens = testkit::free_addr();
    for binary in [
        API.to_owned(),
        testkit::workspace_binary("worker")
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    ] {
        if binary.is_empty() {
            continue;
        }
        let output = tokio::process::Command::new(&binary)
            .env_clear()
            .env(
                "DATABASE_URL",
                format!("postgres://postgres@{nobody_listens}/postgres"),
            )
            .env("DATABASE_ACQUIRE_TIMEOUT", "500ms")
            .env("OPS_LISTEN_ADDR", testkit::ANY_PORT)
            .env("LISTEN_ADDR", testkit::ANY_PORT)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(69), "{binary}: {stdout}");
        assert!(stdout.contains("DATABASE_URL"), "{binary}: {stdout}");
        assert!(!stdout.contains(" ready"), "{binary} served: {stdout}");
    }
}

/// A server that answers but refuses the settings is bad config, not an
/// outage: one line naming DATABASE_URL, exit 2.
#[tokio::test]
async fn a_database_that_does_not_exist_is_bad_config() {
    let server: PgConnectOptions = std::env::var("DATABASE_URL").unwrap().parse().unwrap();
    let missing = server.database("no_such_database_here").to_url_lossy();
    let output = tokio::process::Command::new(API)
        .env_clear()
        .env("DATABASE_URL", missing.as_str())
        .env("OPS_LISTEN_ADDR", testkit::ANY_PORT)
        .env("LISTEN_ADDR", testkit::ANY_PORT)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn help_documents_every_setting() {
    let output = tokio::process::Command::new(API)
        .arg("--help")
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for setting in [
        "LISTEN_ADDR",
        "OPS_LISTEN_ADDR",
        "DATABASE_URL",
        "DATABASE_MAX_CONNECTIONS",
        "DATABASE_ACQUIRE_TIMEOUT",
        "API_REQUEST_TIMEOUT",
        "API_BODY_LIMIT",
        "API_CONCURRENCY_LIMIT",
        "SHUTDOWN_GRACE_PERIOD",
        "SHUTDOWN_DRAIN_DELAY",
        "SHUTDOWN_FLUSH_TIMEOUT",
        "SHUTDOWN_CLOSE_TIMEOUT",
        "SHUTDOWN_MARGIN",
        "SHUTDOWN_MODE",
        "LOG_FORMAT",
    ] {
        // `[env: NAME=value]`, or `[env: NAME]` where the value is hidden.
        let documented = [format!("[env: {setting}="), format!("[env: {setting}]")];
        assert!(
            documented.iter().any(|form| help.contains(form)),
            "{setting} missing from --help"
        );
    }
    assert!(help.contains("migrate"), "the migrate command is missing");
    assert!(!help.contains("API_TEST_ROUTES"));
}

#[test]
fn the_readme_documents_every_setting_help_lists() {
    let missing = testkit::settings_missing_from_doc(API, &["--help"], "README.md");
    assert!(missing.is_empty(), "README.md lacks {missing:?}");
}

#[tokio::test]
async fn migrate_applies_the_migrations_to_an_empty_database_and_exits_0() {
    let server: PgConnectOptions = std::env::var("DATABASE_URL").unwrap().parse().unwrap();
    let name = format!("migrate_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(&server).await.unwrap();
    admin
        .execute(AssertSqlSafe(format!("create database {name}")))
        .await
        .unwrap();
    let options = server.database(&name);
    let url = sqlx::ConnectOptions::to_url_lossy(&options).to_string();
    for _ in 0..2 {
        // Twice: a second run finds nothing to do, and still succeeds.
        let status = tokio::process::Command::new(API)
            .arg("migrate")
            .env_clear()
            .env("DATABASE_URL", &url)
            .status()
            .await
            .unwrap();
        assert_eq!(status.code(), Some(0));
    }
    let mut db = PgConnection::connect_with(&options).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "select count(*) from information_schema.tables where table_name in ('orders', 'jobs')",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(tables, 2);
}
