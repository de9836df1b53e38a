//! Routes that exist only with `API_TEST_ROUTES=1`, for the drain tests: they
//! need a request that is reliably still running when the signal arrives,
//! and a handler that panics. Neither belongs in a real API, so they are not
//! in the OpenAPI document and are off unless asked for.

use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Slow {
    ms: u64,
}

#[derive(Debug, Deserialize)]
struct Panic {
    #[serde(default)]
    quote: String,
}

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/test/slow",
            get(|Query(slow): Query<Slow>| async move {
                tokio::time::sleep(Duration::from_millis(slow.ms)).await;
                format!("slept {} ms", slow.ms)
            }),
        )
        .route("/test/panic", get(panics))
}

/// `?quote=NAME,NAME`: its message holds the values of those environment
/// variables, as a handler that formats a config or a client's error would.
async fn panics(Query(panic): Query<Panic>) -> &'static str {
    let quoted: Vec<String> = panic
        .quote
        .split(',')
        .filter_map(|name| std::env::var(name).ok())
        .collect();
    panic!(
        "a handler panicked on purpose, holding [{}]",
        quoted.join(" ")
    )
}
