//! The API's instruments, named and labelled after the OpenTelemetry HTTP
//! semantic conventions, so that dashboards written for any OTel-instrumented
//! server read them as they are: `http.server.request.duration` (on
//! `/metrics`: `http_server_request_duration_seconds`) and
//! `http.server.active_requests`. They are OpenTelemetry instruments like
//! every other metric of the services: `/metrics` and the OTLP push both
//! read them, so there is one set of numbers, not two.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use axum::http::Method;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;

/// The `http.route` of requests no route matched (404s from the fallback):
/// one series whatever path was asked for, so clients cannot mint series.
pub const UNMATCHED: &str = "unmatched";

const METHOD: &str = "http.request.method";
const ROUTE: &str = "http.route";
const STATUS: &str = "http.response.status_code";

/// The bucket bounds the semantic conventions advise for this histogram.
/// The SDK's defaults (0 to 10 000) are meant for milliseconds and would put
/// almost every request, in seconds, into the first bucket.
const DURATION_BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

#[derive(Debug, Clone)]
pub struct HttpMetrics {
    duration: Histogram<f64>,
    active: Arc<ActiveRequests>,
}

/// `http.server.active_requests`, kept in atomics and read by the
/// instrument's callback when a scrape or export collects it: an
/// up-down counter `add` hashes its attributes and looks them up on every
/// call, twice per request, about 2 900 of the 43 000 instructions a
/// trivial request then cost (docs/benchmarks.md).
#[derive(Debug, Default)]
struct ActiveRequests {
    by_method: [AtomicI64; METHODS.len()],
    /// A method's series is reported from its first request on, and stays
    /// (at 0) afterwards rather than vanishing from dashboards.
    seen: [AtomicBool; METHODS.len()],
}

impl HttpMetrics {
    /// Call after the telemetry is installed: instruments come from the
    /// global meter provider as it is at this moment. Not `Default`, which
    /// would hide that ordering.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let meter = telemetry::meter("api");
        let active = Arc::new(ActiveRequests::default());
        let observed = active.clone();
        // The meter provider keeps the callback; the handle itself is inert.
        let _ = meter
            .i64_observable_up_down_counter("http.server.active_requests")
            .with_unit("{request}")
            .with_description(
                "Requests whose response has not been sent in full, event streams included",
            )
            .with_callback(move |instrument| {
                for (index, method) in METHODS.iter().enumerate() {
                    if observed.seen[index].load(Ordering::Relaxed) {
                        let count = observed.by_method[index].load(Ordering::Relaxed);
                        instrument.observe(count, &[KeyValue::new(METHOD, *method)]);
                    }
                }
            })
            .build();
        Self {
            duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Time from a request reaching the server's middleware until its response head is ready")
                .with_boundaries(DURATION_BOUNDS.to_vec())
                .build(),
            active,
        }
    }

    pub fn request_started(&self, method: HttpMethod) {
        self.active.seen[method.0].store(true, Ordering::Relaxed);
        self.active.by_method[method.0].fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_ended(&self, method: HttpMethod) {
        self.active.by_method[method.0].fetch_sub(1, Ordering::Relaxed);
    }

    pub fn responded(&self, method: HttpMethod, route: &str, status: u16, took: Duration) {
        self.duration.record(
            took.as_secs_f64(),
            &[
                KeyValue::new(METHOD, method.label()),
                KeyValue::new(ROUTE, route.to_owned()),
                KeyValue::new(STATUS, i64::from(status)),
            ],
        );
    }
}

/// The `http.request.method` values: any token is a valid method, so
/// unknown ones share one value rather than letting clients mint new series
/// (the semantic conventions' `_OTHER`).
const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE", "_OTHER",
];

/// A request's method as the metrics and the trace span label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpMethod(usize);

impl HttpMethod {
    pub fn of(method: &Method) -> Self {
        Self(match *method {
            Method::GET => 0,
            Method::POST => 1,
            Method::PUT => 2,
            Method::PATCH => 3,
            Method::DELETE => 4,
            Method::HEAD => 5,
            Method::OPTIONS => 6,
            Method::CONNECT => 7,
            Method::TRACE => 8,
            _ => 9,
        })
    }

    pub fn label(self) -> &'static str {
        METHODS[self.0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(HttpMethod::of(&Method::POST).label(), "POST");
        assert_eq!(HttpMethod::of(&Method::TRACE).label(), "TRACE");
        assert_eq!(
            HttpMethod::of(&Method::from_bytes(b"BREW").unwrap()).label(),
            "_OTHER"
        );
    }
}
