//! Whether the drill kept its own schedule. Latency is measured from each
//! request's due time, so a drill that falls behind (a starved machine, a
//! debug build on two busy cores) shows its own lag as the services'
//! latency. The lag is therefore measured apart, from due time to sending,
//! and a run that fell behind says so instead of blaming the services.

use serde::Serialize;

use crate::verdict::Latency;

/// A request sent this much after its due time was sent late. Far above
/// the timer's millisecond and a spawn's microseconds, far below the
/// latencies a rollout is judged on.
pub const LATE_AFTER_MS: f64 = 20.0;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Generator {
    /// From due time to sending, over the open-loop requests.
    pub lag: Latency,
    /// Requests sent more than [`LATE_AFTER_MS`] late.
    pub late_requests: u64,
    /// The lag's p99 is above [`LATE_AFTER_MS`]: latency from due time is
    /// partly the drill's; latency from sending is not.
    pub behind: bool,
}

impl Generator {
    pub fn new(lag: Latency, late_requests: u64) -> Self {
        Self {
            lag,
            late_requests,
            behind: lag.p99_ms > LATE_AFTER_MS,
        }
    }

    /// The line the verdict adds when the drill fell behind.
    pub fn note(&self) -> Option<String> {
        self.behind.then(|| {
            format!(
                "the load generator fell behind: {} requests were sent more than {LATE_AFTER_MS} ms \
                 after their due time (lag p99 {:.1} ms, max {:.1} ms); latency from due time \
                 includes that lag, latency from sending does not",
                self.late_requests, self.lag.p99_ms, self.lag.max_ms
            )
        })
    }
}
