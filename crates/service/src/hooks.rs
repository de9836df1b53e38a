//! Shutdown hooks for the pieces every service has, returned to `main` for
//! it to register: each binary's `main.rs` then shows its whole shutdown
//! order, phase by phase, and nothing registers a hook behind its back.

use std::future::Future;
use std::pin::Pin;

use shutdown::{HookContext, HookError};
use telemetry::Telemetry;
use tokio::task::JoinHandle;

type HookFuture = Pin<Box<dyn Future<Output = Result<(), HookError>> + Send>>;

/// Waits for a task that stops on a phase token of its own (a loop beside
/// the work: a heartbeat, a sampler, a rescuer). As a hook, its end is in
/// the report: `ok` when it stopped, `failed` if it panicked, `timed_out`
/// if it did not stop within the phase's budget.
pub fn task_ended(task: JoinHandle<()>) -> impl FnOnce(HookContext) -> HookFuture + Send + 'static {
    move |_ctx| {
        Box::pin(async move {
            task.await?;
            Ok(())
        })
    }
}

/// Exports the metrics and spans recorded so far. For the flush phase:
/// after the last request or job, before the pool closes.
pub fn flush_telemetry(
    telemetry: &Telemetry,
) -> impl FnOnce(HookContext) -> HookFuture + Send + 'static {
    let otel = telemetry.otel.clone();
    move |_ctx| Box::pin(async move { Ok(otel.flush().await?) })
}

/// Re-reads the log filter, on SIGHUP.
pub fn reload_logs(
    telemetry: &Telemetry,
) -> impl Fn() -> Result<(), HookError> + Send + Sync + 'static {
    let logs = telemetry.logs.clone();
    move || Ok(logs.reload()?)
}
