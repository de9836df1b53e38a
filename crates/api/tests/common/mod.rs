//! Starting the real `api` binary on a fresh database, and reading what it
//! reports.

#![allow(dead_code)] // each test file uses its own part of this

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::{ANY_PORT, Service, TestDb, bound_addr};

pub use testkit::report::hook;

pub const API: &str = env!("CARGO_BIN_EXE_api");

/// A valid order.
pub fn order_body() -> Value {
    json!({"customer_id": "c-1", "items": [{"sku": "sku-1", "qty": 2}]})
}

#[derive(Debug)]
pub struct Api {
    pub service: Service,
    pub addr: SocketAddr,
    /// `http://<addr>`
    pub base: String,
    pub ops: String,
    pub db: TestDb,
}

/// Starts `api` with the test routes on, short shutdown budgets, and `env`
/// on top, and waits for `api ready`.
pub async fn start(env: &[(&str, &str)]) -> Api {
    let db = TestDb::new().await;
    start_on(db, env).await
}

pub async fn start_on(db: TestDb, env: &[(&str, &str)]) -> Api {
    let mut vars = vec![
        ("DATABASE_URL", db.url.clone()),
        ("LISTEN_ADDR", ANY_PORT.to_owned()),
        ("OPS_LISTEN_ADDR", ANY_PORT.to_owned()),
        ("API_TEST_ROUTES", "1".to_owned()),
        ("SHUTDOWN_GRACE_PERIOD", "10s".to_owned()),
        ("SHUTDOWN_DRAIN_DELAY", "0s".to_owned()),
        ("SHUTDOWN_FLUSH_TIMEOUT", "500ms".to_owned()),
        ("SHUTDOWN_CLOSE_TIMEOUT", "500ms".to_owned()),
        ("SHUTDOWN_MARGIN", "500ms".to_owned()),
    ];
    for (key, value) in env {
        vars.retain(|(k, _)| k != key);
        vars.push((key, (*value).to_owned()));
    }
    let service = Service::spawn(API, &vars);
    let ready = service
        .wait_for_message("api ready", Duration::from_secs(10))
        .await;
    let addr = bound_addr(&ready, "listen_addr");
    let ops_addr = bound_addr(&ready, "ops_addr");
    Api {
        service,
        addr,
        base: format!("http://{addr}"),
        ops: format!("http://{ops_addr}"),
        db,
    }
}

/// The counts of the hook `name` in `phase` of a `shutdown report`.
pub fn hook_counts<'r>(report: &'r Value, phase: &str, name: &str) -> &'r Value {
    &hook(report, phase, name)["counts"]
}

/// Asserts the one error shape and returns its `error` object.
pub async fn error_of(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "{response:?}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = response.json().await.unwrap();
    let error = body["error"].clone();
    assert_eq!(error["code"], code, "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body.as_object().unwrap().len(), 1, "only `error`: {body}");
    error
}

pub use testkit::sample;

impl Api {
    /// Waits until `count` GET requests are inside the api (its
    /// `http.server.active_requests` on `/metrics`), so that a test acts on
    /// a request known to be in flight rather than one still on its way.
    pub async fn wait_gets_in_flight(&self, count: f64) {
        let started = std::time::Instant::now();
        loop {
            let text = self.metrics().await;
            let in_flight = sample(
                &text,
                "http_server_active_requests",
                &[("http_request_method", "GET")],
            );
            if in_flight == Some(count) {
                return;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "{count} GET requests never in flight: {in_flight:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// The ops port's `/metrics`, as Prometheus text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.ops))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Creates an order for a test that only needs one to exist.
    pub async fn create_order(&self, client: &reqwest::Client) -> Value {
        let response = client
            .post(format!("{}/v1/orders", self.base))
            .json(&order_body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// Opens `order`'s event stream.
    pub async fn open_events(&self, client: &reqwest::Client, order: &Value) -> reqwest::Response {
        let id = order["id"].as_str().unwrap();
        client
            .get(format!("{}/v1/orders/{id}/events", self.base))
            .send()
            .await
            .unwrap()
    }
}
