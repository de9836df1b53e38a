//! The database password and the OTLP headers never reach any output:
//! not when the URL fails to parse, not when the server refuses, not when
//! it cannot be reached, and not while the service runs and exports.

mod common;

use std::time::Duration;

use nix::sys::signal::Signal;
use sqlx::postgres::PgConnectOptions;
use testkit::{ANY_PORT, Service};

use common::API;

/// Passwords with each character that breaks a URL.
const PASSWORDS: [&str; 4] = ["s3cr/et-pw", "s3cr#et-pw", "s3cr?et-pw", "s3cr@et-pw"];

const OTLP_TOKEN: &str = "t0ps3cret-token";

fn percent_encoded(password: &str) -> String {
    password
        .replace('/', "%2F")
        .replace('#', "%23")
        .replace('?', "%3F")
        .replace('@', "%40")
}

fn leaks(output: &str, password: &str) -> bool {
    output.contains(password) || output.contains(&percent_encoded(password))
}

#[tokio::test]
async fn no_output_holds_the_database_password_whatever_goes_wrong() {
    let server: PgConnectOptions = std::env::var("DATABASE_URL").unwrap().parse().unwrap();
    let (host, port) = (server.get_host().to_owned(), server.get_port());
    let nobody_listens = testkit::free_addr();
    let binaries = [
        Some(std::path::PathBuf::from(API)),
        testkit::workspace_binary("worker"),
    ];
    for password in PASSWORDS {
        let encoded = percent_encoded(password);
        let urls = [
            // As written, which the URL parser rejects or misreads.
            (
                format!("postgres://app:{password}@{host}:{port}/no_such_database"),
                [2].as_slice(),
            ),
            // Encoded, so it parses; the server refuses the database.
            (
                format!("postgres://app:{encoded}@{host}:{port}/no_such_database"),
                &[2],
            ),
            // Encoded, and nobody answers.
            (
                format!("postgres://app:{encoded}@{nobody_listens}/app"),
                &[69],
            ),
        ];
        for binary in binaries.iter().flatten() {
            for (url, exits) in &urls {
                for via_argument in [false, true] {
                    let mut command = tokio::process::Command::new(binary);
                    command
                        .env_clear()
                        .env("OPS_LISTEN_ADDR", ANY_PORT)
                        .env("LISTEN_ADDR", ANY_PORT)
                        .env("DATABASE_ACQUIRE_TIMEOUT", "500ms")
                        .env(
                            "OTEL_EXPORTER_OTLP_HEADERS",
                            format!("authorization=Bearer {OTLP_TOKEN}"),
                        );
                    if via_argument {
                        command.arg("--database-url").arg(url);
                    } else {
                        command.env("DATABASE_URL", url);
                    }
                    let output = command.output().await.unwrap();
                    let printed = format!(
                        "{}{}",
                        String::from_utf8_lossy(&output.stdout),
                        String::from_utf8_lossy(&output.stderr)
                    );
                    let code = output.status.code();
                    assert!(
                        code.is_some_and(|code| exits.contains(&code)),
                        "{} with {url}: exit {code:?}: {printed}",
                        binary.display()
                    );
                    assert!(printed.contains("DATABASE_URL"), "{url}: {printed}");
                    assert!(!leaks(&printed, password), "{url} leaked: {printed}");
                    assert!(!printed.contains(OTLP_TOKEN), "{printed}");
                }
            }
        }
    }
}

/// A running service whose exports fail says so, without the headers.
#[tokio::test]
async fn failing_exports_do_not_print_the_otlp_headers() {
    let db = testkit::TestDb::new().await;
    let nobody_listens = testkit::free_addr();
    let mut api = Service::spawn(
        API,
        &[
            ("DATABASE_URL", db.url.clone()),
            ("LISTEN_ADDR", ANY_PORT.to_owned()),
            ("OPS_LISTEN_ADDR", ANY_PORT.to_owned()),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{nobody_listens}"),
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("authorization=Bearer {OTLP_TOKEN}"),
            ),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200".to_owned()),
            ("RUST_LOG", "debug".to_owned()),
            ("SHUTDOWN_DRAIN_DELAY", "0s".to_owned()),
            ("SHUTDOWN_FLUSH_TIMEOUT", "1s".to_owned()),
        ],
    );
    api.wait_for_message("api ready", Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    api.signal(Signal::SIGTERM);
    api.wait_exit(Duration::from_secs(20)).await;
    let printed = format!("{}{}", api.stdout().join("\n"), api.stderr());
    assert!(printed.contains("shutdown report"), "{printed}");
    assert!(!printed.contains(OTLP_TOKEN), "{printed}");
}

/// A handler panics with every secret the process was given in its message
/// (`/test/panic?quote=…`): the database password, `PGPASSWORD` and the
/// signal-specific OTLP headers. The panic hook, the catch-panic layer's
/// log line and the shutdown report must print none of them.
#[tokio::test]
async fn a_panic_that_quotes_every_secret_prints_none() {
    let db = testkit::TestDb::new().await;
    // The test server trusts every connection, so any password works.
    let url = db
        .url
        .replacen("://postgres@", "://postgres:dburl-s3cret@", 1);
    assert_ne!(url, db.url, "a URL without a password: {}", db.url);
    let secrets = [
        ("PGPASSWORD", "pgpassword-s3cret"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "traces-t0ken"),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "metrics-t0ken"),
        ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "logs-t0ken"),
    ];
    let mut env = vec![
        ("DATABASE_URL", url),
        ("LISTEN_ADDR", ANY_PORT.to_owned()),
        ("OPS_LISTEN_ADDR", ANY_PORT.to_owned()),
        ("API_TEST_ROUTES", "1".to_owned()),
        ("SHUTDOWN_DRAIN_DELAY", "0s".to_owned()),
    ];
    for (setting, value) in secrets {
        let value = match setting {
            "PGPASSWORD" => value.to_owned(),
            _ => format!("authorization=Bearer {value}"),
        };
        env.push((setting, value));
    }
    let mut api = Service::spawn(API, &env);
    let ready = api
        .wait_for_message("api ready", Duration::from_secs(10))
        .await;
    let addr = testkit::bound_addr(&ready, "listen_addr");
    let quote = ["DATABASE_URL"]
        .into_iter()
        .chain(secrets.map(|(setting, _)| setting))
        .collect::<Vec<_>>()
        .join(",");
    let response = reqwest::get(format!("http://{addr}/test/panic?quote={quote}"))
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    api.wait_for_message("handler panicked", Duration::from_secs(5))
        .await;
    api.signal(Signal::SIGTERM);
    api.wait_exit(Duration::from_secs(20)).await;
    let printed = format!("{}{}", api.stdout().join("\n"), api.stderr());
    assert!(printed.contains("panicked on purpose"), "{printed}");
    assert!(printed.contains("shutdown report"), "{printed}");
    for secret in ["dburl-s3cret"]
        .into_iter()
        .chain(secrets.map(|(_, value)| value))
    {
        assert!(!printed.contains(secret), "{secret} leaked: {printed}");
    }
}
