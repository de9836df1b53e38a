//! The whole app (routes and middleware) called in-process, with
//! `tower::ServiceExt::oneshot`, on a fresh database: for tests about what
//! a request gets back, which need no process, no socket and no signal.
#![allow(dead_code)] // each test file uses its own part of this

use std::time::Duration;

use api::metrics::HttpMetrics;
use api::routes::events::StreamLimits;
use api::{AppState, Limits, RequestTracker};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::Value;
use shutdown::{Shutdown, ShutdownConfig};
use testkit::TestDb;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Limits for in-process tests: a small body limit, so tests exceed it
/// cheaply, and room for every request a test sends at once.
pub const LIMITS: Limits = Limits {
    request_timeout: Duration::from_secs(10),
    body_limit: 1024,
    concurrency: 64,
};

#[derive(Debug)]
pub struct App {
    pub router: Router,
    pub db: TestDb,
    stop: CancellationToken,
    /// Owns the handle the request tracker reports to.
    _shutdown: Shutdown,
}

impl Drop for App {
    fn drop(&mut self) {
        // Releases the order-events LISTEN connection.
        self.stop.cancel();
    }
}

/// The app as `main` builds it, test routes included, on a fresh database.
pub async fn app() -> App {
    let db = TestDb::new().await;
    let shutdown = Shutdown::builder(ShutdownConfig::default())
        .without_signals()
        .build()
        .unwrap();
    let stop = CancellationToken::new();
    let (state, _listener) = AppState::start(
        &db.pool,
        stop.clone(),
        RequestTracker::new(shutdown.handle(), HttpMetrics::new()),
        StreamLimits {
            max_streams: 16,
            lifetime: Duration::from_secs(60),
        },
        true,
    )
    .await
    .unwrap();
    App {
        router: api::app(state, LIMITS),
        db,
        stop,
        _shutdown: shutdown,
    }
}

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl App {
    pub async fn call(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> Answer {
        self.call(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// POSTs `body` as JSON.
    pub async fn post_json(&self, uri: &str, body: impl Into<Body>) -> Answer {
        let request = Request::post(uri)
            .header("content-type", "application/json")
            .body(body.into())
            .unwrap();
        self.call(request).await
    }
}

impl Answer {
    /// Asserts the one error shape with `status` and `code`, and returns
    /// its `error` object.
    pub fn error(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        let content_type = self.headers["content-type"].to_str().unwrap();
        assert!(content_type.starts_with("application/json"), "{self:?}");
        let error = &self.body["error"];
        assert_eq!(error["code"], code, "{self:?}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{self:?}"
        );
        assert_eq!(
            self.body.as_object().map(|o| o.len()),
            Some(1),
            "only `error`: {self:?}"
        );
        error
    }
}
