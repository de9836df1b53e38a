//! The benchmark's peer: the middleware stack a user would assemble for a
//! production axum service from the usual libraries, around the same
//! handler as the api's `GET /`. tower-http's `TraceLayer` (a span per
//! request and its default INFO events), a request id set and propagated,
//! a timeout, load shedding over a concurrency limit, panic catching,
//! axum-prometheus metrics, and JSON logs at INFO. `crates/api/bench/bench.sh`
//! measures it beside `api` and `bare_hello`.
//!
//! With `--lean`, the leaner stack a user mindful of cost would assemble:
//! the same, but the response event at DEBUG, so no access line per
//! request at INFO, as the api writes none. The request span stays.
//!
//! `cargo run --release -p api --example typical_stack -- 127.0.0.1:8082 [--lean]`

use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{BoxError, Json, Router};
use axum_prometheus::PrometheusMetricLayer;
use serde_json::{Value, json};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8082".to_owned());
    let access_line = if std::env::args().any(|arg| arg == "--lean") {
        Level::DEBUG
    } else {
        Level::INFO
    };
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let (metrics, metrics_handle) = PrometheusMetricLayer::pair();
    let app = Router::new()
        .route("/", get(service_info))
        .route(
            "/metrics",
            get(move || std::future::ready(metrics_handle.render())),
        )
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                        .on_response(DefaultOnResponse::new().level(access_line)),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(metrics)
                .layer(CatchPanicLayer::new())
                .layer(HandleErrorLayer::new(overloaded))
                .load_shed()
                .concurrency_limit(1024)
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Duration::from_secs(10),
                )),
        );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("typical_stack listening on {addr}");
    axum::serve(listener, app).await
}

async fn service_info() -> Json<Value> {
    Json(json!({"service": "api", "version": env!("CARGO_PKG_VERSION")}))
}

async fn overloaded(_: BoxError) -> (StatusCode, Json<Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": {"code": "overloaded", "message": "retry shortly"}})),
    )
}
