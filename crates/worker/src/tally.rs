//! How jobs ended, for the shutdown report.
//!
//! Counts go into the report's drain and cancel hooks as jobs end, not when
//! the hooks finish, so they are right even when a hook is abandoned at its
//! budget.

use shutdown::Counts;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Finished,
    Released,
    Failed,
    Discarded,
    /// Back to `available` at the handler's request, its attempt given back.
    Snoozed,
    /// Back to `available` because this release cannot decode its payload.
    HandedBack,
    LeaseLost,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Finished => "finished",
            Ending::Released => "released",
            Ending::Failed => "failed",
            Ending::Discarded => "discarded",
            Ending::Snoozed => "snoozed",
            Ending::HandedBack => "handed_back",
            Ending::LeaseLost => "lease_lost",
        }
    }

    fn count_name(self) -> &'static str {
        match self {
            Ending::Finished => "jobs_finished",
            Ending::Released => "jobs_released",
            Ending::Failed => "jobs_failed",
            Ending::Discarded => "jobs_discarded",
            Ending::Snoozed => "jobs_snoozed",
            Ending::HandedBack => "jobs_handed_back",
            Ending::LeaseLost => "jobs_lease_lost",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tally {
    pub shutting_down: CancellationToken,
    pub cancelling: CancellationToken,
    /// Jobs that ended during the drain.
    pub drain: Counts,
    /// Jobs that ended after being cancelled; `jobs_abandoned` counts down
    /// from the jobs running when the cancel phase began.
    pub cancel: Counts,
}

impl Tally {
    pub fn record(&self, ending: Ending) {
        if self.cancelling.is_cancelled() {
            self.cancel.add(ending.count_name(), 1);
            self.cancel.sub("jobs_abandoned", 1);
        } else if self.shutting_down.is_cancelled() {
            self.drain.add(ending.count_name(), 1);
        }
    }
}
