//! The orders API, as a library so that tests can call the whole app
//! in-process ([`app`] with `tower::ServiceExt::oneshot`), as axum's own
//! testing example does. `main.rs` is the binary: start-up, then the
//! shutdown order.

pub mod config;
pub mod db;
pub mod error;
mod extract;
pub mod http;
pub mod metrics;
pub mod model;
pub mod routes;

use axum::Router;

pub use http::{Limits, RequestTracker};
pub use routes::{AppState, Shared};

/// The whole HTTP app: every route, and the middleware stack around them
/// (request id, trace span, drain tracking, one error shape, panic
/// catching, shedding, body limit, timeout).
pub fn app(state: AppState, limits: Limits) -> Router {
    let requests = state.requests.clone();
    let test_routes = state.test_routes;
    http::layers::apply(routes::router(state, test_routes), limits, requests)
}
