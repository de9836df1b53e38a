//! The fixed order of shutdown.
//!
//! The order is not configurable on purpose: every step depends on the one
//! before it (a pool closed before the requests using it drain loses work;
//! telemetry flushed before the drain misses the drain).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Readiness turns false at once; the signal and deadline are logged.
    Announce,
    /// Keep serving normally while endpoint removal propagates.
    Delay,
    /// Close listeners, stop claim loops.
    StopIntake,
    /// Wait for in-flight work until it is done or the drain budget ends.
    Drain,
    /// Cancel what remains and give it a short time to hand work back.
    Cancel,
    /// Flush telemetry, inside its reserved budget.
    Flush,
    /// Close pools and other resources, inside its reserved budget.
    Close,
}

impl Phase {
    pub const ALL: [Phase; 7] = [
        Phase::Announce,
        Phase::Delay,
        Phase::StopIntake,
        Phase::Drain,
        Phase::Cancel,
        Phase::Flush,
        Phase::Close,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Announce => "announce",
            Phase::Delay => "delay",
            Phase::StopIntake => "stop_intake",
            Phase::Drain => "drain",
            Phase::Cancel => "cancel",
            Phase::Flush => "flush",
            Phase::Close => "close",
        }
    }

    /// Phases whose hooks run under a budget. Announce and delay are built in:
    /// they only flip readiness and wait.
    pub(crate) fn takes_hooks(self) -> bool {
        !matches!(self, Phase::Announce | Phase::Delay)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
