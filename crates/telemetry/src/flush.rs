//! The final export, bounded.
//!
//! `force_flush` and `shutdown` of the SDK providers block, and called on a
//! tokio worker thread they can deadlock (opentelemetry-rust #2715, #3176);
//! the meter provider also ignores its own timeout (#3589). So they run on
//! a plain thread, and the caller bounds the wait: the coordinator's flush
//! budget aborts the waiting hook, and the thread, stuck on a collector
//! that never answers, dies with the process. `spawn_blocking` would not
//! do: the runtime waits for its blocking tasks before the process exits.

use crate::otel::Otel;

#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error("{0}")]
    Export(String),
    #[error("the flush thread stopped without an answer")]
    Lost,
}

impl Otel {
    /// Exports everything recorded so far, then shuts the providers down.
    pub async fn flush(&self) -> Result<(), FlushError> {
        let meters = self.meters.clone();
        let tracers = self.tracers.clone();
        let (done, answer) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("otel-flush".into())
            .spawn(move || {
                let mut errors = Vec::new();
                if let Some(tracers) = &tracers {
                    errors.extend(tracers.force_flush().err().map(|e| format!("traces: {e}")));
                    errors.extend(tracers.shutdown().err().map(|e| format!("traces: {e}")));
                }
                errors.extend(meters.force_flush().err().map(|e| format!("metrics: {e}")));
                errors.extend(meters.shutdown().err().map(|e| format!("metrics: {e}")));
                let _ = done.send(errors);
            })
            .map_err(|e| FlushError::Export(e.to_string()))?;
        let errors = answer.await.map_err(|_| FlushError::Lost)?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(FlushError::Export(errors.join("; ")))
        }
    }
}
