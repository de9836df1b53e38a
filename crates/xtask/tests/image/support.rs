//! The database and load helpers the image tests share.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, PgConnection, PgPool};
use testkit::TestDb;

use super::container::*;

/// A database with nothing in it, for the migrate Job's container to fill.
pub async fn empty_database() -> (String, String) {
    let server: PgConnectOptions = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL: run with `cargo xtask image-test`")
        .parse()
        .unwrap();
    let name = format!("image_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(&server).await.unwrap();
    admin
        .execute(AssertSqlSafe(format!("create database {name}")))
        .await
        .unwrap();
    admin.close().await.unwrap();
    (
        name.clone(),
        server.database(&name).to_url_lossy().to_string(),
    )
}

pub async fn create_orders(client: &reqwest::Client, base: &str, count: usize) {
    for n in 0..count {
        let response = client
            .post(format!("{base}/v1/orders"))
            .json(&json!({"customer_id": format!("c-{n}"), "items": [{"sku": "sku-1", "qty": 1}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
    }
}

pub async fn running_jobs(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar("select id from jobs where state = 'running' order by id")
        .fetch_all(pool)
        .await
        .unwrap()
}

pub async fn wait_for_running_jobs(pool: &PgPool) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let running = running_jobs(pool).await;
        if !running.is_empty() {
            return running;
        }
        assert!(Instant::now() < deadline, "the worker claimed no job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The api's own count of requests in flight, from its `/metrics`.
pub async fn requests_in_flight(client: &reqwest::Client, ops: &str) -> f64 {
    let text = client
        .get(format!("{ops}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with("http_server_active_requests"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub async fn drop_database(name: &str) {
    let server: PgConnectOptions = std::env::var("DATABASE_URL").unwrap().parse().unwrap();
    let mut admin = PgConnection::connect_with(&server).await.unwrap();
    let _ = admin
        .execute(AssertSqlSafe(format!(
            "drop database if exists {name} with (force)"
        )))
        .await;
}

pub async fn services(
    db: &TestDb,
    extra: &[(&'static str, String)],
) -> (Container, Container, Value) {
    let common = |more: &[(&'static str, String)]| {
        let mut env = vec![
            ("DATABASE_URL", db.url.clone()),
            ("OPS_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
            ("SHUTDOWN_GRACE_PERIOD", "60s".to_owned()),
            ("SHUTDOWN_DRAIN_DELAY", "30s".to_owned()),
        ];
        env.extend(extra.iter().cloned());
        env.extend(more.iter().cloned());
        env
    };
    let api = Container::create(
        "api",
        &["/usr/local/bin/api"],
        &common(&[("LISTEN_ADDR", "127.0.0.1:0".to_owned())]),
    )
    .await;
    let worker = Container::create(
        "worker",
        &["/usr/local/bin/worker"],
        &common(&[
            ("WORK_TIME", "60s".to_owned()),
            ("QUEUE_POLL_INTERVAL", "200ms".to_owned()),
        ]),
    )
    .await;
    api.start().await;
    worker.start().await;
    let ready = api
        .wait_for_message("api ready", Duration::from_secs(20))
        .await;
    worker
        .wait_for_message("worker ready", Duration::from_secs(20))
        .await;
    (api, worker, ready)
}
