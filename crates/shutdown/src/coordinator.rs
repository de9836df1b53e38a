//! The coordinator: registration at start-up, then one ordered run.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Budget, BudgetError, ShutdownConfig};
use crate::hook::{Counts, HookContext, HookError};
use crate::phase::Phase;
use crate::readiness::Readiness;
use crate::report::{PhaseReport, Report};
use crate::runner::{OnHurry, PhasePlan, run_delay, run_hooks, skipped};
use crate::trigger::{ReloadHookDebug, Shared, listen_for_signals};

pub(crate) type HookFuture = Pin<Box<dyn Future<Output = Result<(), HookError>> + Send>>;
pub(crate) type Hook = Box<dyn FnOnce(HookContext) -> HookFuture + Send>;

/// Builds a [`Shutdown`]. Refuses a configuration that cannot fit.
#[derive(Debug)]
pub struct ShutdownBuilder {
    config: ShutdownConfig,
    signals: bool,
    parent: Option<CancellationToken>,
}

impl ShutdownBuilder {
    /// Don't listen for OS signals: for tests, and for embedding the
    /// coordinator in a process where something else owns the signals.
    pub fn without_signals(mut self) -> Self {
        self.signals = false;
        self
    }

    /// Start the shutdown when `parent` is cancelled, e.g. a supervisor's token.
    pub fn parent(mut self, parent: CancellationToken) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Checks the budget and starts listening for signals at once, so a
    /// SIGTERM that arrives during start-up is not lost. Must be called inside
    /// a tokio runtime.
    pub fn build(self) -> Result<Shutdown, BuildError> {
        let budget = self.config.budget()?;
        let shared = Shared::new();
        if self.signals {
            listen_for_signals(shared.clone()).map_err(BuildError::Signals)?;
        }
        if let Some(parent) = self.parent {
            let shared = shared.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = parent.cancelled() => shared.fire("parent cancelled"),
                    _ = shared.triggered.cancelled() => {}
                }
            });
        }
        Ok(Shutdown {
            config: self.config,
            budget,
            shared,
            hooks: BTreeMap::new(),
            observers: Vec::new(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Budget(#[from] BudgetError),
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
}

/// Owns the process's shutdown. Register hooks at start-up, then await
/// [`Shutdown::run`] at the end of `main`.
pub struct Shutdown {
    config: ShutdownConfig,
    budget: Budget,
    pub(crate) shared: Arc<Shared>,
    hooks: BTreeMap<Phase, Vec<(String, Counts, Hook)>>,
    observers: Vec<PhaseObserver>,
}

/// Sees each phase's report as soon as the phase ends.
pub type PhaseObserver = Box<dyn Fn(&PhaseReport) + Send + Sync>;

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("config", &self.config)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Shutdown {
    pub fn builder(config: ShutdownConfig) -> ShutdownBuilder {
        ShutdownBuilder {
            config,
            signals: true,
            parent: None,
        }
    }

    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// A cheap, cloneable handle for the rest of the program.
    pub fn handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: self.shared.clone(),
        }
    }

    /// Registers a hook for `phase`. Hooks of one phase run concurrently,
    /// each as its own task, so a panic is caught and reported as `failed`
    /// while the later phases still run.
    ///
    /// # Panics
    /// For [`Phase::Announce`] and [`Phase::Delay`]: they only flip readiness
    /// and wait. React to them with [`ShutdownHandle::phase_started`].
    pub fn on<F, Fut>(&mut self, phase: Phase, name: impl Into<String>, hook: F) -> &mut Self
    where
        F: FnOnce(HookContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), HookError>> + Send + 'static,
    {
        self.on_counted(phase, name, Counts::default(), hook)
    }

    /// Like [`Shutdown::on`], with counts the program already updates as its
    /// work ends (jobs finished, requests drained). They land in this hook's
    /// report as they stand when the report is made, even if the hook was
    /// abandoned halfway.
    pub fn on_counted<F, Fut>(
        &mut self,
        phase: Phase,
        name: impl Into<String>,
        counts: Counts,
        hook: F,
    ) -> &mut Self
    where
        F: FnOnce(HookContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), HookError>> + Send + 'static,
    {
        assert!(phase.takes_hooks(), "the {phase} phase takes no hooks");
        let hook: Hook = Box::new(move |ctx| Box::pin(hook(ctx)));
        self.hooks
            .entry(phase)
            .or_default()
            .push((name.into(), counts, hook));
        self
    }

    /// Calls `observer` with each phase's report as the phase ends, before
    /// the next one starts. Telemetry uses it to record the phases that end
    /// before the flush as metrics, so the final export carries them.
    pub fn on_phase_end<F>(&mut self, observer: F) -> &mut Self
    where
        F: Fn(&PhaseReport) + Send + Sync + 'static,
    {
        self.observers.push(Box::new(observer));
        self
    }

    /// Registers a SIGHUP reload hook. A failed reload is logged and the old
    /// setting stays.
    pub fn on_reload<F>(&mut self, name: impl Into<String>, hook: F) -> &mut Self
    where
        F: Fn() -> Result<(), HookError> + Send + Sync + 'static,
    {
        let mut hooks = self
            .shared
            .reload_hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        hooks.push((name.into(), ReloadHookDebug(Box::new(hook))));
        drop(hooks);
        self
    }

    /// Waits for a trigger, then runs every phase in order and returns the
    /// report. Never returns before a trigger.
    pub async fn run(mut self) -> Report {
        self.shared.triggered.cancelled().await;
        let (started_at, trigger) = self
            .shared
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .expect("a trigger records when and why");
        let budget = self.budget;
        tracing::info!(
            trigger = %trigger,
            deadline_ms = crate::report::millis(budget.total),
            drain_delay_ms = crate::report::millis(budget.drain_delay),
            drain_budget_ms = crate::report::millis(budget.drain),
            "shutdown started"
        );
        let plan = PhasePlan {
            shared: self.shared.clone(),
            started_at,
        };
        let hurry = self.shared.hurry.clone();
        let mut phases = Observed {
            phases: Vec::with_capacity(Phase::ALL.len()),
            observers: std::mem::take(&mut self.observers),
        };
        phases.push(plan.instant(Phase::Announce));
        phases.push(run_delay(&plan, started_at + budget.drain_delay).await);

        let drain_deadline = started_at + budget.drain_delay + budget.drain;
        // Stop-intake shares the drain budget; after a second signal, whether
        // it came before this phase or during it, it gets only the short
        // SHUTDOWN_CANCEL_TIMEOUT.
        let intake = self.take(Phase::StopIntake);
        phases.push(
            run_hooks(
                &plan,
                Phase::StopIntake,
                intake,
                drain_deadline,
                OnHurry::Shorten(&hurry, budget.cancel),
            )
            .await,
        );

        let drain = self.take(Phase::Drain);
        phases.push(if hurry.is_cancelled() {
            skipped(&plan, Phase::Drain, drain)
        } else {
            run_hooks(
                &plan,
                Phase::Drain,
                drain,
                drain_deadline,
                OnHurry::Skip(&hurry),
            )
            .await
        });

        for (phase, window) in [
            (Phase::Cancel, budget.cancel),
            (Phase::Flush, budget.flush),
            (Phase::Close, budget.close),
        ] {
            let hooks = self.take(phase);
            phases.push(
                run_hooks(
                    &plan,
                    phase,
                    hooks,
                    Instant::now() + window,
                    OnHurry::Ignore,
                )
                .await,
            );
        }

        let report = Report::new(trigger, phases.phases, started_at.elapsed(), budget.total);
        if !report.deadline_met {
            tracing::warn!(
                elapsed_ms = report.elapsed_ms,
                deadline_ms = report.deadline_ms,
                "shutdown missed its deadline"
            );
        }
        report
    }

    fn take(&mut self, phase: Phase) -> Vec<(String, Counts, Hook)> {
        self.hooks.remove(&phase).unwrap_or_default()
    }
}

/// What the rest of the program holds: readiness, triggers, phase tokens.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Starts the shutdown from code, e.g. because a critical task failed.
    pub fn trigger(&self, reason: impl AsRef<str>) {
        self.shared.fire(reason.as_ref());
    }

    pub fn readiness(&self) -> &Readiness {
        &self.shared.readiness
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shared.readiness.is_shutting_down()
    }

    /// A token cancelled when `phase` starts: `Announce` for "stop keep-alive",
    /// `StopIntake` for "close listeners", `Cancel` for "abort what remains",
    /// `Close` for "flush is over". It is a child token: cancelling it affects
    /// only its holder.
    pub fn phase_started(&self, phase: Phase) -> CancellationToken {
        self.shared.phase_started[phase as usize].child_token()
    }
}

/// The report under construction, shown to each observer as it grows.
struct Observed {
    phases: Vec<PhaseReport>,
    observers: Vec<PhaseObserver>,
}

impl Observed {
    fn push(&mut self, phase: PhaseReport) {
        for observer in &self.observers {
            observer(&phase);
        }
        self.phases.push(phase);
    }
}
