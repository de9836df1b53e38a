//! The API's instruments, named and labelled after the OpenTelemetry HTTP
//! semantic conventions, so that dashboards written for any OTel-instrumented
//! server read them as they are: `http.server.request.duration` (on
//! `/metrics`: `http_server_request_duration_seconds`) and
//! `http.server.active_requests`. They are OpenTelemetry instruments like
//! every other metric of the services: `/metrics` and the OTLP push both
//! read them, so there is one set of numbers, not two.

use std::time::Duration;

use axum::http::Method;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, UpDownCounter};

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
    active: UpDownCounter<i64>,
}

impl HttpMetrics {
    /// Call after the telemetry is installed: instruments come from the
    /// global meter provider as it is at this moment.
    pub fn new() -> Self {
        let meter = telemetry::meter("api");
        Self {
            duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Time from a request reaching the server's middleware until its response head is ready")
                .with_boundaries(DURATION_BOUNDS.to_vec())
                .build(),
            active: meter
                .i64_up_down_counter("http.server.active_requests")
                .with_unit("{request}")
                .with_description("Requests whose response has not been sent in full, event streams included")
                .build(),
        }
    }

    pub fn request_started(&self, method: &'static str) {
        self.active.add(1, &[KeyValue::new(METHOD, method)]);
    }

    pub fn request_ended(&self, method: &'static str) {
        self.active.add(-1, &[KeyValue::new(METHOD, method)]);
    }

    pub fn responded(&self, method: &'static str, route: &str, status: u16, took: Duration) {
        self.duration.record(
            took.as_secs_f64(),
            &[
                KeyValue::new(METHOD, method),
                KeyValue::new(ROUTE, route.to_owned()),
                KeyValue::new(STATUS, i64::from(status)),
            ],
        );
    }
}

/// Any token is a valid method, so unknown ones share one value rather than
/// letting clients mint new series (the semantic conventions' `_OTHER`).
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(
            method_label(&Method::from_bytes(b"BREW").unwrap()),
            "_OTHER"
        );
    }
}
