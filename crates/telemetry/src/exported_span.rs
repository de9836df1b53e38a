//! Attributes that go to the exported (OpenTelemetry) span only.

use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Records a server span's response status on the exported span only.
///
/// Not as a `tracing` field: the JSON log layer would write it into the
/// span's fields, where no log line could show it (a request logs nothing
/// after its response), at a cost the api's benchmark could measure. A 5xx
/// needs nothing more here: tower-http's trace layer logs it as an error
/// inside the span, and tracing-opentelemetry marks such a span an error.
pub fn record_response_status(span: &tracing::Span, status: u16) {
    span.set_attribute("http.response.status_code", i64::from(status));
}
