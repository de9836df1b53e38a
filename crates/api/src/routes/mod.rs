//! The traffic routes, and the state they share.

pub mod events;
pub mod exports;
pub mod openapi;
pub mod orders;
mod test_only;

use std::sync::Arc;

use axum::{Extension, Json, Router};
use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::db::OrderEvents;
use crate::error::ApiError;
use crate::http::RequestTracker;

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
    /// Every request in flight, for the drain; the middleware stack
    /// updates it.
    pub requests: Arc<RequestTracker>,
    /// The open event streams, bounded by `API_MAX_EVENT_STREAMS`.
    pub streams: events::EventStreams,
    /// Serve the undocumented drain-test routes (`API_TEST_ROUTES`).
    pub test_routes: bool,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// The state as `main` serves with it, its event streams' LISTEN
    /// started; the returned task is that LISTEN's, which ends at
    /// `stop_intake`. The in-process tests build theirs here too, so they
    /// test the state `main` serves with.
    pub async fn start(
        pool: &PgPool,
        stop_intake: CancellationToken,
        requests: Arc<RequestTracker>,
        stream_limits: events::StreamLimits,
        test_routes: bool,
    ) -> Result<(Self, tokio::task::JoinHandle<()>), sqlx::Error> {
        let (events, listener) = OrderEvents::listen(pool, stop_intake.clone()).await?;
        let state = Self::new(Shared {
            pool: pool.clone(),
            events,
            stop_intake,
            requests,
            streams: events::EventStreams::new(stream_limits),
            test_routes,
        });
        Ok((state, listener))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Every traffic route, each with its OpenAPI operation: `routes!` takes
/// the handler's `#[utoipa::path]`, so a route added here is in the
/// document, and a route cannot be served without being added here
/// (`tests/openapi.rs` checks both ways).
pub fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(service_info))
        .routes(routes!(orders::create_order))
        .routes(routes!(orders::get_order))
        .routes(routes!(events::order_events))
        .routes(routes!(exports::create_export))
        .routes(routes!(exports::get_export))
        .routes(routes!(openapi::openapi_json))
}

/// The routes, with the document they are described by served at
/// `/openapi.json`. `test_routes` adds the undocumented drain-test routes
/// (`API_TEST_ROUTES`).
pub fn router(state: AppState, test_routes: bool) -> Router {
    let (mut router, document) = documented().split_for_parts();
    if test_routes {
        router = router.merge(test_only::routes());
    }
    router
        .layer(Extension(openapi::Document::render(&document)))
        .fallback(not_found)
        .with_state(state)
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
