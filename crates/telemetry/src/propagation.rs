//! W3C trace context across the queue: the api stores the request's
//! `traceparent` in the job row, and the worker continues that trace, so a
//! request and the job it caused share one trace id.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The current span's `traceparent`, when there is a trace to continue.
pub fn current_traceparent() -> Option<String> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the trace named by `traceparent`, if any.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(parent);
}

/// Records a server span's response status on the exported span only.
///
/// Not as a `tracing` field: the JSON log layer would write it into the
/// span's fields, where no log line could show it (a request logs nothing
/// after its response), at a cost the api's benchmark could measure. 5xx
/// mark the span as an error; a 4xx is the client's, as the OpenTelemetry
/// HTTP conventions have it.
pub fn record_response_status(span: &tracing::Span, status: u16) {
    span.set_attribute("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.set_status(opentelemetry::trace::Status::error(""));
    }
}
