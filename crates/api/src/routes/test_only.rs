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

async fn panics() -> &'static str {
    panic!("a handler panicked on purpose")
}
