//! Bounds on connections, as opposed to requests: how many may be open, and
//! how long one may stay silent before its first request head.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// `API_MAX_CONNECTIONS`.
    pub max_connections: usize,
    /// `API_HEADER_READ_TIMEOUT`.
    pub header_read_timeout: Duration,
    /// `API_HTTP2_PING_INTERVAL`.
    pub http2_ping_interval: Duration,
}

/// Why a connection was closed before it could be served.
#[derive(Debug, Clone, Copy)]
pub enum ClosedEarly {
    /// `API_MAX_CONNECTIONS` were already open.
    AtLimit,
    /// No complete request head within `API_HEADER_READ_TIMEOUT` of opening.
    Silent,
    /// No complete request head when the drain began.
    Draining,
}

impl ClosedEarly {
    fn as_str(self) -> &'static str {
        match self {
            Self::AtLimit => "at_limit",
            Self::Silent => "silent",
            Self::Draining => "no_head_at_drain",
        }
    }
}

/// The open connections' slots, and the count of those turned away.
#[derive(Debug, Clone)]
pub struct ConnectionSlots {
    slots: Arc<Semaphore>,
    closed_early: Counter<u64>,
}

impl ConnectionSlots {
    pub fn new(max_connections: usize) -> Self {
        let closed_early = telemetry::meter("api")
            .u64_counter("api.connections.closed_early")
            .with_description(
                "Connections closed before being served: at API_MAX_CONNECTIONS, silent past API_HEADER_READ_TIMEOUT, or without a whole request head when the drain began",
            )
            .build();
        // Present from the start, so dashboards and alerts see a 0.
        for reason in [ClosedEarly::AtLimit, ClosedEarly::Silent] {
            closed_early.add(0, &[KeyValue::new("reason", reason.as_str())]);
        }
        Self {
            slots: Arc::new(Semaphore::new(max_connections)),
            closed_early,
        }
    }

    /// A slot for a connection just accepted, held until it ends; `None`
    /// (and counted) when every slot is taken.
    pub fn take(&self) -> Option<OwnedSemaphorePermit> {
        let slot = self.slots.clone().try_acquire_owned().ok();
        if slot.is_none() {
            self.closed(ClosedEarly::AtLimit);
        }
        slot
    }

    pub fn closed(&self, why: ClosedEarly) {
        self.closed_early
            .add(1, &[KeyValue::new("reason", why.as_str())]);
    }
}
