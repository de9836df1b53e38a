//! Runs one phase's hooks inside its budget, and turns what happened into a
//! [`PhaseReport`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::future::join_all;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::coordinator::Hook;
use crate::hook::{Counts, HookContext};
use crate::phase::Phase;
use crate::report::{HookReport, Outcome, PhaseReport, millis};
use crate::trigger::Shared;

pub(crate) struct PhasePlan {
    pub(crate) shared: Arc<Shared>,
    pub(crate) started_at: Instant,
}

impl PhasePlan {
    fn offset(&self, at: Instant) -> u64 {
        millis(at.saturating_duration_since(self.started_at))
    }

    /// A phase with no work of its own (announce happens inside the trigger).
    pub(crate) fn instant(&self, phase: Phase) -> PhaseReport {
        PhaseReport {
            phase,
            start_offset_ms: 0,
            elapsed_ms: 0,
            budget_ms: 0,
            outcome: Outcome::Done,
            hooks: Vec::new(),
        }
    }
}

/// Keeps serving until the drain delay is over, unless a second signal says
/// to hurry.
pub(crate) async fn run_delay(plan: &PhasePlan, until: Instant) -> PhaseReport {
    plan.shared.mark_phase(Phase::Delay);
    let start = Instant::now();
    // Its budget is SHUTDOWN_DRAIN_DELAY, counted from the signal; the phase
    // itself starts a moment after the signal, so it lasts a little less.
    let budget_ms = millis_ceil(until.saturating_duration_since(plan.started_at));
    let (outcome, elapsed_ms) = tokio::select! {
        // The delay lasts until its deadline by definition; the timer's
        // wake-up comes a moment later, and that moment is not the delay's.
        _ = sleep_until(until) => (Outcome::Done, millis_ceil(until.saturating_duration_since(start))),
        _ = plan.shared.hurry.cancelled() => (Outcome::Skipped, millis(start.elapsed())),
    };
    PhaseReport {
        phase: Phase::Delay,
        start_offset_ms: plan.offset(start),
        elapsed_ms,
        budget_ms,
        outcome,
        hooks: Vec::new(),
    }
}

/// Reports a phase that never ran.
pub(crate) fn skipped(
    plan: &PhasePlan,
    phase: Phase,
    hooks: Vec<(String, Counts, Hook)>,
) -> PhaseReport {
    plan.shared.mark_phase(phase);
    let now = plan.offset(Instant::now());
    PhaseReport {
        phase,
        start_offset_ms: now,
        elapsed_ms: 0,
        budget_ms: 0,
        outcome: Outcome::Skipped,
        hooks: hooks
            .into_iter()
            .map(|(name, counts, _)| HookReport {
                name,
                start_offset_ms: now,
                elapsed_ms: 0,
                outcome: Outcome::Skipped,
                error: None,
                counts: counts.snapshot(),
                lists: counts.lists(),
            })
            .collect(),
    }
}

/// What a second signal does to a phase that is running.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OnHurry<'a> {
    /// Nothing: the phase keeps its own deadline.
    Ignore,
    /// Abandon the hooks at once, reported `skipped` (the drain).
    Skip(&'a CancellationToken),
    /// Bring the deadline forward to `window` after the second signal, if
    /// that is sooner (stopping intake is still worth doing, but quickly).
    Shorten(&'a CancellationToken, Duration),
}

/// Runs every hook of a phase concurrently. A hook still running at the
/// deadline is aborted and reported `timed_out`; `on_hurry` says what a
/// second signal does to one still running.
pub(crate) async fn run_hooks(
    plan: &PhasePlan,
    phase: Phase,
    hooks: Vec<(String, Counts, Hook)>,
    deadline: Instant,
    on_hurry: OnHurry<'_>,
) -> PhaseReport {
    plan.shared.mark_phase(phase);
    let start = Instant::now();
    // Where a second signal brought the deadline forward: one instant for
    // every hook, and the budget the report shows.
    let cut_at = OnceLock::new();
    if let OnHurry::Shorten(hurry, window) = on_hurry
        && hurry.is_cancelled()
    {
        let _ = cut_at.set(start + window);
    }
    let cut_at = &cut_at;
    let runs = hooks.into_iter().map(|(name, counts, hook)| {
        let ctx = HookContext {
            deadline,
            counts: counts.clone(),
        };
        let mut task = tokio::spawn(hook(ctx));
        async move {
            let (outcome, error) = tokio::select! {
                joined = &mut task => match joined {
                    Ok(Ok(())) => (Outcome::Done, None),
                    Ok(Err(error)) => (Outcome::Failed, Some(error.to_string())),
                    Err(join) => (Outcome::Failed, Some(panic_message(join))),
                },
                cut = hurried_deadline(deadline, on_hurry, cut_at) => {
                    task.abort();
                    match cut {
                        Some(outcome) => (outcome, Some("cut short by a second signal".to_owned())),
                        None => (Outcome::TimedOut, Some(format!("abandoned at its {}ms budget", millis_ceil(deadline.saturating_duration_since(start))))),
                    }
                }
            };
            if outcome != Outcome::Done {
                tracing::warn!(%phase, hook = %name, ?outcome, error = error.as_deref().unwrap_or(""), "shutdown hook did not finish cleanly");
            }
            HookReport {
                name,
                start_offset_ms: plan.offset(start),
                elapsed_ms: millis(start.elapsed()),
                outcome,
                error,
                counts: counts.snapshot(),
                lists: counts.lists(),
            }
        }
    });
    let hooks = join_all(runs).await;
    let deadline = cut_at.get().map_or(deadline, |cut| deadline.min(*cut));
    let outcome = [Outcome::Failed, Outcome::TimedOut, Outcome::Skipped]
        .into_iter()
        .find(|worst| hooks.iter().any(|h| h.outcome == *worst))
        .unwrap_or(Outcome::Done);
    PhaseReport {
        phase,
        start_offset_ms: plan.offset(start),
        elapsed_ms: millis(start.elapsed()),
        budget_ms: millis_ceil(deadline.saturating_duration_since(start)),
        outcome,
        hooks,
    }
}

/// Budgets round up and elapsed times down, so that work done inside its
/// budget never shows more milliseconds than the budget it had.
fn millis_ceil(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// Resolves when a hook must be abandoned: `None` at its own deadline, or the
/// outcome to report when a second signal cut it short (at `cut_at`, set by
/// the first hook to see the signal).
async fn hurried_deadline(
    deadline: Instant,
    on_hurry: OnHurry<'_>,
    cut_at: &OnceLock<Instant>,
) -> Option<Outcome> {
    match on_hurry {
        OnHurry::Ignore => {
            sleep_until(deadline).await;
            None
        }
        OnHurry::Skip(hurry) => tokio::select! {
            () = sleep_until(deadline) => None,
            () = hurry.cancelled() => Some(Outcome::Skipped),
        },
        OnHurry::Shorten(hurry, window) => {
            tokio::select! {
                () = sleep_until(deadline) => return None,
                () = hurry.cancelled() => {}
            }
            let cut = *cut_at.get_or_init(|| Instant::now() + window);
            if cut >= deadline {
                sleep_until(deadline).await;
                return None;
            }
            sleep_until(cut).await;
            Some(Outcome::TimedOut)
        }
    }
}

fn panic_message(join: tokio::task::JoinError) -> String {
    if !join.is_panic() {
        return "cancelled".to_owned();
    }
    format!(
        "panicked: {}",
        crate::panic_message(join.into_panic().as_ref())
    )
}
