//! The middleware stack, outermost first. Applied with `Router::layer`, so
//! every route and the fallback get it and the trace span and metrics can
//! name the matched route.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::{BoxError, ServiceBuilder};
use tower_http::body::UnsyncBoxBody;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use super::requests::{RequestTracker, TrackRequestsLayer};
use super::timeout::RequestTimeoutLayer;
use crate::error::{self, ApiError};
use crate::metrics;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub request_timeout: Duration,
    pub body_limit: usize,
    pub concurrency: usize,
}

pub fn apply(router: Router, limits: Limits, requests: Arc<RequestTracker>) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_request(())
                    .on_response(record_status)
                    // Not tower-http's default, an ERROR line per 5xx: a
                    // handler's failure logs its own cause, and a shed or
                    // timed-out request is counted in the HTTP metrics.
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(TrackRequestsLayer(requests))
            // tower's, not axum's `map_response`: axum's boxes every
            // response future, for an async function this does not need.
            .map_response(one_error_shape::<UnsyncBoxBody<Bytes, BoxError>>)
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(HandleErrorLayer::new(overloaded))
            // Shed at once rather than queue: a queued request would only
            // time out later, after holding its connection the whole time.
            .layer(LoadShedLayer::new())
            // Global: `Router::layer` builds the stack once per route, and a
            // per-route limit would multiply the bound by the route count.
            .layer(GlobalConcurrencyLimitLayer::new(limits.concurrency))
            .layer(RequestBodyLimitLayer::new(limits.body_limit))
            .layer(RequestTimeoutLayer(limits.request_timeout))
            // API_BODY_LIMIT is the one limit; axum's own 2 MB default would
            // otherwise silently cap it.
            .layer(DefaultBodyLimit::disable()),
    )
}

/// The request's span, with the attributes the OpenTelemetry HTTP semantic
/// conventions name, as a child of the caller's trace when the request
/// carries a W3C `traceparent`: the caller's trace then goes on through
/// this request, and through the job it enqueues.
fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(metrics::UNMATCHED, MatchedPath::as_str);
    let request_id = header_str(request, "x-request-id").unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        otel.kind = "server",
        http.request.method = metrics::HttpMethod::of(request.method()).label(),
        http.route = route,
        request_id,
    );
    telemetry::continue_trace(&span, header_str(request, "traceparent"));
    span
}

fn header_str<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

fn record_status<B>(response: &Response<B>, latency: Duration, span: &Span) {
    let status = response.status().as_u16();
    telemetry::record_response_status(span, status);
    tracing::debug!(status, latency_ms = latency.as_millis() as u64, "response");
}

/// Layers and axum itself answer some errors with their own bodies (413 as
/// text, 405 empty, 400 from a query string as text). Rewrite those into the one
/// shape, keeping headers such as `Allow` and `Retry-After`.
fn one_error_shape<B>(response: Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || error::is_json(&response) {
        return response.map(Body::new);
    }
    let (mut parts, _) = response.into_parts();
    let mut rewritten = ApiError::from_status(status).into_response();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    for (name, value) in rewritten.headers() {
        parts.headers.insert(name.clone(), value.clone());
    }
    *rewritten.headers_mut() = parts.headers;
    rewritten
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    // Redacted here, not only by the log writer: the event also travels,
    // as a span event, to the trace exporter.
    let message = shutdown::panic_message(panic.as_ref());
    let message = service::secrets::redact(&message);
    tracing::error!(panic = %message, "handler panicked");
    ApiError::internal().into_response()
}

async fn overloaded(error: BoxError) -> ApiError {
    if error.is::<tower::load_shed::error::Overloaded>() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests in flight, retry shortly",
        );
    }
    tracing::error!(%error, "middleware error");
    ApiError::internal()
}
