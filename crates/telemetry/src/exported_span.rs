//! Attributes that go to the exported (OpenTelemetry) span only.

use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Records a server span's response status on the exported span only, and
/// marks the span an error for a 5xx (a 4xx is the client's, as the
/// OpenTelemetry HTTP conventions have it).
///
/// Not as `tracing` fields: the JSON log layer would write them into the
/// span's fields, where no log line could show them (a request logs nothing
/// after its response), at a cost the api's benchmark could measure. Nor
/// through an error event, which tracing-opentelemetry would also turn into
/// the error mark: that is one ERROR log line per 5xx, a line per shed
/// request while the process is already overloaded.
pub fn record_response_status(span: &tracing::Span, status: u16) {
    span.set_attribute("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.set_status(opentelemetry::trace::Status::error(""));
    }
}
