//! What the fault tests share: a server of their own, the services'
//! settings, and a client that records each request's fate.
#![allow(dead_code)] // each test binary uses its own subset

mod load;

pub use load::{Load, assert_fulfilled_exactly_once};

use std::time::Duration;

use serde_json::Value;
use testkit::{ANY_PORT, Service, TestDb};
use tokio::time::Instant;
use xtask::pg::{Cluster, DataDir, SearchPlaces, find};

pub async fn cluster() -> Cluster {
    let binaries = find(&SearchPlaces::from_env()).expect("PostgreSQL server binaries");
    Cluster::start(&binaries, DataDir::Throwaway).await.unwrap()
}

/// A lease of 6 s, so work whose end could not be recorded in the outage
/// runs again within seconds; every database bound a third of it.
pub const SHORT_LEASE: [(&str, &str); 4] = [
    ("QUEUE_LEASE", "6s"),
    ("QUEUE_HEARTBEAT", "2s"),
    ("DATABASE_ACQUIRE_TIMEOUT", "2s"),
    ("DATABASE_STATEMENT_TIMEOUT", "2s"),
];

pub const QUICK_SHUTDOWN: [(&str, &str); 2] = [
    ("SHUTDOWN_GRACE_PERIOD", "10s"),
    ("SHUTDOWN_DRAIN_DELAY", "0s"),
];

pub fn spawn(binary: &std::path::Path, db: &TestDb, env: &[(&str, &str)]) -> Service {
    let mut vars = vec![
        ("DATABASE_URL", db.url.clone()),
        ("OPS_LISTEN_ADDR", ANY_PORT.to_owned()),
        ("LISTEN_ADDR", ANY_PORT.to_owned()),
        ("QUEUE_POLL_INTERVAL", "200ms".to_owned()),
        // No schedule's ticks among the jobs the tests count.
        ("WORKER_SCHEDULES", "none".to_owned()),
    ];
    vars.extend(env.iter().map(|(k, v)| (*k, (*v).to_owned())));
    Service::spawn(binary, &vars)
}

/// One request's fate, timed from the start of the run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub sent: Duration,
    /// Until the whole answer, or the transport error, came.
    pub took: Duration,
    /// The status, or `None` when no response came (a transport error).
    pub status: Option<u16>,
    pub retry_after: bool,
    pub error_code: Option<String>,
}

impl Outcome {
    /// A success, or a 503 that tells the client to retry: Retry-After and
    /// the one error shape, with a code that says why.
    pub fn assert_success_or_retryable_503(&self) {
        match self.status {
            Some(200 | 201) => {}
            Some(503) => assert!(
                self.retry_after
                    && matches!(
                        self.error_code.as_deref(),
                        Some("unavailable" | "outcome_unknown" | "timeout")
                    ),
                "a 503 without Retry-After or the JSON error shape: {self:?}"
            ),
            _ => panic!("neither a success nor a 503: {self:?}"),
        }
    }
}

pub async fn send(request: reqwest::RequestBuilder, t0: Instant) -> (Outcome, Option<Value>) {
    let sent = t0.elapsed();
    let (status, retry_after, body) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            let body: Option<Value> = response.json().await.ok();
            (Some(status), retry_after, body)
        }
        Err(_) => (None, false, None),
    };
    let error_code = body
        .as_ref()
        .and_then(|b| b["error"]["code"].as_str().map(str::to_owned));
    let outcome = Outcome {
        sent,
        took: t0.elapsed() - sent,
        status,
        retry_after,
        error_code,
    };
    (outcome, body)
}

/// Waits for both services to be ready: the api's base URL and its
/// `/readyz`.
pub async fn wait_ready(api: &Service, worker: &Service) -> (String, String) {
    let ready = api
        .wait_for_message("api ready", Duration::from_secs(10))
        .await;
    worker
        .wait_for_message("worker ready", Duration::from_secs(10))
        .await;
    let base = format!("http://{}", testkit::bound_addr(&ready, "listen_addr"));
    let readyz = format!("http://{}/readyz", testkit::bound_addr(&ready, "ops_addr"));
    (base, readyz)
}

/// SIGTERM to each, and each exits 0.
pub async fn stop_cleanly(services: &mut [&mut Service]) {
    for service in services {
        service.signal(nix::sys::signal::Signal::SIGTERM);
        let status = service.wait_exit(Duration::from_secs(15)).await;
        assert_eq!(status.code(), Some(0), "{}", service.stderr());
    }
}
