//! Readiness as the orchestrator sees it.
//!
//! Kubernetes stops sending new connections to a pod whose readiness fails,
//! and a terminating endpoint that is not ready gets no fallback traffic. So
//! readiness must turn false the instant a shutdown starts, long before the
//! listener closes: that is what lets the drain delay do its job.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone, Default)]
pub struct Readiness {
    inner: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    started: AtomicBool,
    shutting_down: AtomicBool,
}

impl Readiness {
    /// The service has finished starting: dependencies connected, listeners
    /// bound. Also tells systemd (`READY=1`) when `NOTIFY_SOCKET` is set.
    pub fn mark_started(&self) {
        if !self.inner.started.swap(true, Ordering::SeqCst) {
            crate::notify::ready();
        }
    }

    /// True from `mark_started` until the first shutdown trigger.
    pub fn is_ready(&self) -> bool {
        self.inner.started.load(Ordering::SeqCst) && !self.is_shutting_down()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    /// Returns true only for the first caller, so announce runs once.
    pub(crate) fn begin_shutdown(&self) -> bool {
        !self.inner.shutting_down.swap(true, Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_between_start_and_shutdown() {
        let readiness = Readiness::default();
        assert!(!readiness.is_ready());
        readiness.mark_started();
        assert!(readiness.is_ready());
        assert!(readiness.begin_shutdown());
        assert!(!readiness.is_ready());
        assert!(!readiness.begin_shutdown(), "announce must happen once");
    }
}
