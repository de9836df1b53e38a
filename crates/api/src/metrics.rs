//! The API's Prometheus text, kept behind this one module so that it can be
//! swapped for OpenTelemetry instruments (a counter and an up-down counter)
//! without touching the middleware that records into it.
//!
//! Hand-written rather than a metrics crate because it is two series and a
//! map: the telemetry crate will bring the real exporter.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use axum::http::Method;

/// Responses by method, matched route and status.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Keyed by route first so that recording looks up by `&str` and only
    /// allocates the first time a route is seen.
    responses: Arc<Mutex<HashMap<String, Vec<ResponseCount>>>>,
}

#[derive(Debug)]
struct ResponseCount {
    method: &'static str,
    status: u16,
    count: u64,
}

/// The label for requests no route matched (404s from the fallback).
pub const UNMATCHED: &str = "unmatched";

impl Metrics {
    pub fn record_response(&self, method: &Method, route: &str, status: u16) {
        let method = method_label(method);
        let mut responses = self.responses.lock().unwrap_or_else(|p| p.into_inner());
        let counts = match responses.get_mut(route) {
            Some(counts) => counts,
            None => responses.entry(route.to_owned()).or_default(),
        };
        match counts
            .iter_mut()
            .find(|c| c.method == method && c.status == status)
        {
            Some(count) => count.count += 1,
            None => counts.push(ResponseCount {
                method,
                status,
                count: 1,
            }),
        }
    }

    /// The text exposition, with the in-flight gauge read by the caller.
    pub fn render(&self, in_flight: u64) -> String {
        let mut text = String::new();
        text.push_str(
            "# HELP http_server_requests_total Responses sent, by method, matched route and status.\n\
             # TYPE http_server_requests_total counter\n",
        );
        let responses = self.responses.lock().unwrap_or_else(|p| p.into_inner());
        let mut routes: Vec<_> = responses.iter().collect();
        routes.sort_by_key(|(route, _)| route.as_str());
        for (route, counts) in routes {
            for c in counts {
                let _ = writeln!(
                    text,
                    "http_server_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}",
                    c.method,
                    escape(route),
                    c.status,
                    c.count
                );
            }
        }
        drop(responses);
        let _ = write!(
            text,
            "# HELP http_server_requests_in_flight Requests whose response has not finished, event streams included.\n\
             # TYPE http_server_requests_in_flight gauge\n\
             http_server_requests_in_flight {in_flight}\n"
        );
        text
    }
}

/// Any token is a valid method, so unknown ones share one label rather than
/// letting clients mint new series (the OpenTelemetry convention).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "_OTHER",
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_route_and_status() {
        let metrics = Metrics::default();
        metrics.record_response(&Method::GET, "/v1/orders/{id}", 200);
        metrics.record_response(&Method::GET, "/v1/orders/{id}", 200);
        metrics.record_response(&Method::from_bytes(b"BREW").unwrap(), UNMATCHED, 404);
        let text = metrics.render(3);
        assert!(text.contains(
            "http_server_requests_total{method=\"GET\",route=\"/v1/orders/{id}\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "http_server_requests_total{method=\"_OTHER\",route=\"unmatched\",status=\"404\"} 1"
        ));
        assert!(text.contains("http_server_requests_in_flight 3\n"));
    }
}
