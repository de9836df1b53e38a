//! What the real `api` exports, read back by an in-test OTLP collector: the
//! final flush carries every request, a request's trace goes on through the
//! job it enqueued (in a real `worker`), and a dead collector cannot hold
//! the process past its deadline.
//!
//! The worker belongs to another package, so Cargo gives no
//! `CARGO_BIN_EXE_worker`: it is taken from the target dir, as the drill's
//! tests do. `cargo nextest run -p api -p worker` (or the whole workspace)
//! builds it; when it is missing the trace test says so and skips, except
//! under `CI`, where it fails.

mod common;

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use testkit::otlp::{ReceivedSpan, Receiver, dead_collector};
use testkit::{ANY_PORT, Service};

use common::{hook, start};

const DURATION: &str = "http.server.request.duration";

/// Export to `endpoint`, and only at the final flush: the periodic export
/// interval is far longer than any test.
fn exporting_to(endpoint: &str, flush_timeout: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "3600000".to_owned()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000".to_owned()),
        ("SHUTDOWN_FLUSH_TIMEOUT", flush_timeout.to_owned()),
    ]
}

fn borrowed<'e>(env: &'e [(&'static str, String)]) -> Vec<(&'static str, &'e str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn the_final_flush_exports_every_request() {
    const REQUESTS: u64 = 25;
    let receiver = Receiver::start().await;
    let env = exporting_to(&receiver.endpoint, "3s");
    let mut api = start(&borrowed(&env)).await;
    let client = reqwest::Client::new();
    for _ in 0..REQUESTS {
        let response = client.get(&api.base).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let unmatched = client
        .get(format!("{}/no/such/route", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unmatched.status(), 404);

    assert_eq!(
        receiver.metric_exports(),
        0,
        "only the final flush may deliver"
    );
    api.service.signal(Signal::SIGTERM);
    let status = api.service.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status}");
    let report = api.service.report(Duration::ZERO).await;
    assert_eq!(hook(&report, "flush", "telemetry")["outcome"], "done");

    assert_eq!(
        receiver.histogram_count_where(DURATION, "http.route", "/"),
        Some(REQUESTS)
    );
    assert_eq!(
        receiver.histogram_count_where(DURATION, "http.route", "unmatched"),
        Some(1)
    );
    assert_eq!(
        receiver.histogram_count_where(DURATION, "http.response.status_code", "404"),
        Some(1)
    );
    assert_eq!(
        receiver.counter_total("http.server.active_requests"),
        Some(0.0)
    );
}

#[tokio::test]
async fn an_order_and_its_job_continue_the_callers_trace() {
    let Some(worker_bin) = testkit::workspace_binary("worker") else {
        return;
    };
    let receiver = Receiver::start().await;
    let mut env = exporting_to(&receiver.endpoint, "3s");
    env.push(("API_REQUEST_TIMEOUT", "3s".to_owned()));
    let mut api = start(&borrowed(&env)).await;
    let mut worker_env = exporting_to(&receiver.endpoint, "3s");
    worker_env.extend([
        ("DATABASE_URL", api.db.url.clone()),
        ("OPS_LISTEN_ADDR", ANY_PORT.to_owned()),
        ("WORK_TIME", "0s".to_owned()),
        ("SHUTDOWN_GRACE_PERIOD", "10s".to_owned()),
        ("SHUTDOWN_DRAIN_DELAY", "0s".to_owned()),
        ("SHUTDOWN_CLOSE_TIMEOUT", "1s".to_owned()),
        ("SHUTDOWN_MARGIN", "1s".to_owned()),
    ]);
    let mut worker = Service::spawn(&worker_bin, &worker_env);
    worker
        .wait_for_message("worker ready", Duration::from_secs(10))
        .await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/v1/orders", api.base))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&json!({"customer_id": "c-1", "items": [{"sku": "s-1", "qty": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let order: Value = created.json().await.unwrap();
    // A request without a traceparent starts a trace of its own.
    let untraced = client.get(&api.base).send().await.unwrap();
    assert_eq!(untraced.status(), 200);
    // A 503 from the request timeout: no error is logged on the way, so
    // only the response status can mark the span.
    let failed = client
        .get(format!("{}/test/slow?ms=10000", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 503);
    wait_fulfilled(&api.db.pool, order["id"].as_str().unwrap()).await;

    api.service.signal(Signal::SIGTERM);
    worker.signal(Signal::SIGTERM);
    let api_status = api.service.wait_exit(Duration::from_secs(10)).await;
    let worker_status = worker.wait_exit(Duration::from_secs(10)).await;
    assert!(api_status.success(), "api: {api_status}");
    assert!(worker_status.success(), "worker: {worker_status}");

    let spans = receiver.spans();
    let request = only_span(&spans, "request", "/v1/orders");
    assert_eq!(request.trace_id, trace_id, "{request:?}");
    for (key, value) in [
        ("http.request.method", r#"StringValue("POST")"#),
        ("http.route", r#"StringValue("/v1/orders")"#),
        ("http.response.status_code", "IntValue(201)"),
    ] {
        assert!(
            request
                .attributes
                .contains(&(key.to_owned(), value.to_owned())),
            "{key} in {request:?}"
        );
    }
    // A 5xx marks the server span as an error; a 2xx leaves it unset.
    assert_eq!(request.status_code, 0, "{request:?}");
    let failed = only_span(&spans, "request", "/test/slow");
    assert_eq!(failed.status_code, 2, "{failed:?}");
    assert!(
        failed.attributes.contains(&(
            "http.response.status_code".to_owned(),
            "IntValue(503)".to_owned()
        )),
        "{failed:?}"
    );
    let job = spans.iter().find(|s| s.name == "job").expect("a job span");
    assert_eq!(job.trace_id, trace_id, "{job:?}");
    let root = only_span(&spans, "request", "/");
    assert_ne!(root.trace_id, trace_id, "{root:?}");
}

#[tokio::test]
async fn a_collector_that_never_answers_cannot_hold_the_process_past_its_deadline() {
    let dead = dead_collector().await;
    let env = exporting_to(&format!("http://{dead}"), "1s");
    let mut api = start(&borrowed(&env)).await;
    let served = reqwest::get(&api.base).await.unwrap();
    assert_eq!(served.status(), 200);

    let signalled = Instant::now();
    api.service.signal(Signal::SIGTERM);
    let status = api.service.wait_exit(Duration::from_secs(10)).await;
    let took = signalled.elapsed();

    let report = api.service.report(Duration::ZERO).await;
    assert_eq!(
        hook(&report, "flush", "telemetry")["outcome"],
        "timed_out",
        "{report}"
    );
    assert_eq!(report["outcome"], "overran");
    assert_eq!(status.code(), Some(1));
    // Grace 10s − margin 0.5s is the bound; the flush budget (1s) cuts it
    // far sooner.
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

/// The one span called `name` whose `http.route` is `route`.
fn only_span<'s>(spans: &'s [ReceivedSpan], name: &str, route: &str) -> &'s ReceivedSpan {
    let route = ("http.route".to_owned(), format!("StringValue({route:?})"));
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.name == name && s.attributes.contains(&route))
        .collect();
    assert_eq!(found.len(), 1, "{route:?} in {spans:?}");
    found[0]
}

async fn wait_fulfilled(pool: &sqlx::PgPool, id: &str) {
    let id: uuid::Uuid = id.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: String = sqlx::query_scalar("select status from orders where id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
        if status == "fulfilled" {
            return;
        }
        assert!(Instant::now() < deadline, "order {id} is still {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
