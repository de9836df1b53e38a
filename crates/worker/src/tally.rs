//! How jobs ended, for the shutdown report.
//!
//! Counts go into the report's drain and cancel hooks as jobs end, not when
//! the hooks finish, so they are right even when a hook is abandoned at its
//! budget.

use queue::Fence;
use shutdown::Counts;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Finished,
    Released,
    /// Released at a step boundary, with its cursor, by a handler that
    /// works in steps: the job resumes where it got to.
    Interrupted,
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
            Ending::Interrupted => "interrupted",
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
            Ending::Interrupted => "jobs_interrupted",
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
        if let Some(counts) = self.phase_counts() {
            counts.add(ending.count_name(), 1);
        }
        if self.cancelling.is_cancelled() {
            self.cancel.sub("jobs_abandoned", 1);
        }
    }

    /// Lists an interrupted job by id, kind and the steps this attempt did,
    /// so an operator reading the shutdown report sees what was handed back.
    pub fn interrupted(&self, fence: Fence, kind: &str, steps_done: u32) {
        if let Some(counts) = self.phase_counts() {
            counts.push(
                "interrupted",
                serde_json::json!({ "job_id": fence.id.0, "kind": kind, "steps_done": steps_done }),
            );
        }
    }

    /// The counts of the phase the shutdown is in, if it has begun.
    fn phase_counts(&self) -> Option<&Counts> {
        if self.cancelling.is_cancelled() {
            Some(&self.cancel)
        } else if self.shutting_down.is_cancelled() {
            Some(&self.drain)
        } else {
            None
        }
    }
}
