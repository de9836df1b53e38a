//! Logs, traces and metrics for the services, built to survive shutdown.
//!
//! Kept apart from the services so both binaries report the same way, and
//! apart from `shutdown` so the coordinator stays free of any exporter: the
//! services register [`Telemetry::flush`] as their flush-phase hook.

mod exported_span;
mod flush;
mod logs;
mod otel;
mod propagation;
mod redacted_stdout;
mod span_fields;

pub use exported_span::record_response_status;
pub use flush::FlushError;
pub use logs::{LogFormat, LogReload, LogsError};
pub use otel::{Otel, OtelError};
pub use propagation::{continue_trace, current_traceparent};
pub use redacted_stdout::Redact;

/// Everything [`init`] installed.
#[derive(Debug, Clone)]
pub struct Telemetry {
    pub logs: LogReload,
    pub otel: Otel,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(transparent)]
    Logs(#[from] LogsError),
    #[error(transparent)]
    Otel(#[from] OtelError),
}

/// Installs logs, traces and metrics. Call once, first thing in `main`,
/// inside the tokio runtime.
pub fn init(
    format: LogFormat,
    service_name: &str,
    redact: Redact,
) -> Result<Telemetry, TelemetryError> {
    let (otel, tracer) = Otel::install(service_name)?;
    let logs = logs::init_logs(format, tracer, redact)?;
    Ok(Telemetry { logs, otel })
}

/// The meter every instrument of a service comes from.
pub fn meter(name: &'static str) -> opentelemetry::metrics::Meter {
    opentelemetry::global::meter(name)
}
