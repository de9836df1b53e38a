//! What happened during shutdown, in a form both people and tests can read.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::phase::Phase;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Done,
    TimedOut,
    Failed,
    Skipped,
}

impl Outcome {
    /// The name used in the report and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::TimedOut => "timed_out",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    /// Every phase finished inside its budget and the deadline was met.
    Clean,
    /// A hook had to be abandoned at its budget, or the deadline was missed.
    Overran,
    /// A hook returned an error or panicked.
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct HookReport {
    pub name: String,
    pub start_offset_ms: u64,
    pub elapsed_ms: u64,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub counts: BTreeMap<String, u64>,
    /// What the hook names one by one (`interrupted`: the jobs handed back
    /// unfinished, by id, kind and steps done).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub lists: BTreeMap<String, Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub phase: Phase,
    pub start_offset_ms: u64,
    pub elapsed_ms: u64,
    pub budget_ms: u64,
    pub outcome: Outcome,
    pub hooks: Vec<HookReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The signal (`SIGTERM`, `SIGINT`) or the reason given to `trigger`.
    pub trigger: String,
    pub phases: Vec<PhaseReport>,
    pub elapsed_ms: u64,
    /// `grace_period - margin`, the bound the whole shutdown must end within.
    pub deadline_ms: u64,
    pub deadline_met: bool,
    pub outcome: Overall,
}

impl Report {
    /// Drain is the one phase whose budget running out is the design working:
    /// its end is what starts the cancel phase. Anywhere else a timeout is an
    /// overrun.
    pub(crate) fn new(
        trigger: String,
        phases: Vec<PhaseReport>,
        elapsed: Duration,
        deadline: Duration,
    ) -> Self {
        let deadline_met = elapsed <= deadline;
        let any = |outcome: Outcome, phase_filter: &dyn Fn(Phase) -> bool| {
            phases
                .iter()
                .filter(|p| phase_filter(p.phase))
                .flat_map(|p| &p.hooks)
                .any(|h| h.outcome == outcome)
        };
        let outcome = if any(Outcome::Failed, &|_| true) {
            Overall::Failed
        } else if !deadline_met || any(Outcome::TimedOut, &|phase| phase != Phase::Drain) {
            Overall::Overran
        } else {
            Overall::Clean
        };
        Self {
            trigger,
            phases,
            elapsed_ms: millis(elapsed),
            deadline_ms: millis(deadline),
            deadline_met,
            outcome,
        }
    }

    /// 0 when clean, 1 when the shutdown overran or failed.
    pub fn exit_code(&self) -> i32 {
        match self.outcome {
            Overall::Clean => 0,
            Overall::Overran | Overall::Failed => 1,
        }
    }

    pub fn phase(&self, phase: Phase) -> Option<&PhaseReport> {
        self.phases.iter().find(|p| p.phase == phase)
    }

    /// Emits the report as one event whose message is exactly
    /// `shutdown report`. The scalars are fields of their own; the phases
    /// are one field holding JSON, because tracing fields are flat.
    pub fn emit(&self) {
        let phases = serde_json::to_string(&self.phases).unwrap_or_default();
        let outcome = serde_json::to_value(self.outcome).unwrap_or_default();
        let outcome = outcome.as_str().unwrap_or("unknown");
        macro_rules! report_event {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    trigger = %self.trigger,
                    outcome,
                    elapsed_ms = self.elapsed_ms,
                    deadline_ms = self.deadline_ms,
                    deadline_met = self.deadline_met,
                    phases = %phases,
                    "shutdown report"
                )
            };
        }
        match self.outcome {
            Overall::Clean => report_event!(tracing::Level::INFO),
            Overall::Overran | Overall::Failed => report_event!(tracing::Level::WARN),
        }
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
