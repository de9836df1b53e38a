//! Logs, traces and metrics for the services.
//!
//! Kept apart from the services so both binaries report the same way, and
//! apart from `shutdown` so the coordinator stays free of any exporter.

mod logs;

pub use logs::{LogFormat, LogReload, LogsError, init_logs};
