//! The traffic routes, and the state they share.

pub mod events;
pub mod openapi;
pub mod orders;
mod test_only;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::db::OrderEvents;
use crate::error::ApiError;

/// Cloned for every request, so one reference count rather than one per
/// field (a `CancellationToken` clone even takes a lock).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
    pub pool: PgPool,
    pub events: OrderEvents,
    /// Cancelled when intake stops, after the delay: long-lived responses
    /// end then, so that the drain does not wait on them.
    pub stop_intake: CancellationToken,
    pub openapi: Bytes,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub fn router(state: AppState, test_routes: bool) -> Router {
    let mut router = Router::new()
        .route("/", get(service_info))
        .route("/v1/orders", post(orders::create_order))
        .route("/v1/orders/{id}", get(orders::get_order))
        .route("/v1/orders/{id}/events", get(events::order_events))
        .route("/openapi.json", get(openapi::openapi_json));
    if test_routes {
        router = router.merge(test_only::routes());
    }
    router.fallback(not_found).with_state(state)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceInfo {
    service: &'static str,
    version: &'static str,
}

// Touches nothing, which makes it the route the benchmark measures the
// middleware stack on.
/// The service's name and version.
#[utoipa::path(get, path = "/", tag = "meta", responses((status = 200, body = ServiceInfo)))]
pub async fn service_info() -> Json<ServiceInfo> {
    Json(ServiceInfo {
        service: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
    })
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}
