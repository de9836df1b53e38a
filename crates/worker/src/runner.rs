//! Claims jobs as slots free up and runs each under its own lease and token.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use queue::{Backoff, ClaimFloors, ClaimedJob, Claimer, FailOutcome, Fence};
use service::db::bounded;
// What a worker stores in `last_error` is read by people and tools that
// must not see a secret a panic or an error happened to quote.
use service::secrets::redact;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::completer::Completer;
use crate::config::Undecodable;
use crate::context::{Done, JobContext, JobError, StepWatch};
use crate::handler::Handlers;
use crate::held::{Attempt, Held};
use crate::metrics::JobMetrics;
use crate::pace::ClaimPace;
use crate::tally::{Ending, Tally};

/// A job whose payload this release cannot decode is tried again soon: the
/// release that can may be running already, mid-rollout.
const UNDECODABLE_BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(1),
    max: Duration::from_secs(60),
};

#[derive(Debug, Clone)]
pub struct Runner {
    pub claimer: Claimer,
    pub handlers: Arc<Handlers>,
    pub concurrency: u32,
    pub poll_interval: Duration,
    /// The least time between a claim that came back short and the next
    /// (`crate::pace`).
    pub claim_cooldown: Duration,
    /// The longest a healthy database takes to answer one call
    /// (`DatabaseArgs::call_bound`); past it the call is abandoned.
    pub call_bound: Duration,
    pub held: Held,
    /// Every job task; the drain waits on it.
    pub jobs: TaskTracker,
    /// Parent of every job's token; cancelled by the cancel phase.
    pub cancel_jobs: CancellationToken,
    pub completer: Completer,
    pub tally: Tally,
    pub metrics: JobMetrics,
    pub undecodable: Undecodable,
    /// A step longer than this is warned of: half the drain budget.
    pub slow_step_after: Duration,
}

impl Runner {
    /// Claims until `stop` fires, then stops listening. Running jobs are not
    /// touched: they go on, with their heartbeats, into the drain.
    pub async fn claim_until(self, stop: CancellationToken) {
        if !self.wait_for_schema(&stop).await {
            return;
        }
        let slots = Arc::new(Semaphore::new(self.concurrency as usize));
        let mut pace =
            ClaimPace::listen(self.claimer.pool(), self.call_bound, self.claim_cooldown).await;
        // A job that sorts before a floor waits at most one poll interval,
        // the wait a job whose NOTIFY was missed already has.
        let mut floors = ClaimFloors::new(self.poll_interval);
        loop {
            // `biased`: with a free slot and stop-intake both ready, stop
            // wins. Unbiased, the loop claimed once more half the time.
            let first = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                permit = slots.clone().acquire_owned() => permit.expect("never closed"),
            };
            let mut permits = vec![first];
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = pace.before_claim() => {}
            }
            // Slots freed during the cooldown join this claim.
            while let Ok(permit) = slots.clone().try_acquire_owned() {
                permits.push(permit);
            }
            let claim_sent = Instant::now();
            let claim = self.claimer.claim_from(&mut floors, permits.len() as u32);
            let answer = bounded(self.call_bound, claim).await;
            self.metrics.claimed_in(claim_sent.elapsed());
            let claimed = match answer {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "claim failed; retrying after the poll interval");
                    Vec::new()
                }
            };
            if stop.is_cancelled() {
                // Intake stopped while the claim was out. Nothing starts
                // after stop-intake, and a job spawned now might outlive
                // the drain: it goes straight back, attempt given back.
                self.hand_back_unstarted(claimed).await;
                break;
            }
            pace.claimed(claim_sent, permits.len(), claimed.len());
            let found_work = !claimed.is_empty();
            for (job, permit) in claimed.into_iter().zip(permits.drain(..)) {
                self.spawn(job, permit, claim_sent);
            }
            drop(permits);
            if !found_work {
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => break,
                    _ = pace.hint() => {}
                    _ = tokio::time::sleep(self.poll_interval) => {}
                }
            }
        }
        pace.unlisten(self.call_bound).await;
    }

    /// Releases jobs claimed as intake stopped, never started.
    async fn hand_back_unstarted(&self, claimed: Vec<ClaimedJob>) {
        for job in claimed {
            let released = queue::release(self.claimer.pool(), job.fence, None);
            let ending = self
                .recorded(job.fence, "release", Ending::Released, released)
                .await;
            tracing::info!(
                job_id = job.fence.id.0,
                ?ending,
                "claimed as intake stopped; not started"
            );
        }
    }

    /// Claims nothing until the database has every migration this release
    /// needs: a new worker that starts before its release's migrate Job
    /// ends would fail the jobs it claimed. `false` if `stop` came first.
    async fn wait_for_schema(&self, stop: &CancellationToken) -> bool {
        let mut said = false;
        loop {
            let missing = bounded(
                self.call_bound,
                service::schema::missing_migrations(self.claimer.pool()),
            );
            match missing.await {
                Ok(missing) if missing.is_empty() => return true,
                Ok(missing) if !said => {
                    said = true;
                    tracing::warn!(
                        ?missing,
                        "the database lacks migrations this release needs; claiming nothing until they are applied"
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "cannot read the applied migrations; retrying")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll_interval) => {}
                _ = stop.cancelled() => return false,
            }
        }
    }

    fn spawn(&self, job: ClaimedJob, permit: OwnedSemaphorePermit, claim_sent: Instant) {
        let attempt = self
            .held
            .insert(job.fence, self.cancel_jobs.child_token(), claim_sent);
        let runner = self.clone();
        // The job's span continues the trace of the request that enqueued it.
        let span = tracing::info_span!(
            "job",
            job_id = job.fence.id.0,
            kind = %job.kind,
            attempt = job.attempt
        );
        telemetry::continue_trace(&span, job.trace_context.as_deref());
        self.metrics.started();
        let job_task = async move {
            let (fence, kind) = (job.fence, job.kind.clone());
            let claimed = Instant::now();
            let steps = attempt.steps.clone();
            let ending = runner.run(job, attempt).await;
            runner.held.remove(fence);
            runner.tally.record(ending);
            if ending == Ending::Interrupted {
                runner.tally.interrupted(fence, &kind, steps.done());
            }
            runner.metrics.record(&kind, ending, claimed.elapsed());
            match ending {
                // A snooze is the handler's own plan, not news.
                Ending::Finished | Ending::Snoozed => {}
                Ending::Interrupted => tracing::info!(
                    job_id = fence.id.0,
                    claim = fence.claim,
                    steps_done = steps.done(),
                    "job interrupted at a step boundary; it resumes from its cursor"
                ),
                Ending::LeaseLost => tracing::warn!(
                    job_id = fence.id.0,
                    claim = fence.claim,
                    "attempt's end not recorded: its lease is another attempt's, or will expire"
                ),
                _ => tracing::info!(
                    job_id = fence.id.0,
                    claim = fence.claim,
                    ?ending,
                    "job did not finish"
                ),
            }
            drop(permit);
        };
        self.jobs
            .spawn(tracing::Instrument::instrument(job_task, span));
    }

    /// Runs one attempt and records how it ended, fenced on its lease.
    pub(crate) async fn run(&self, job: ClaimedJob, attempt: Attempt) -> Ending {
        let Attempt {
            cancel,
            interrupt,
            steps,
            cancel_requested,
        } = attempt;
        let fence = job.fence;
        let Some(handler) = self.handlers.get(&job.kind).cloned() else {
            let error = format!("no handler for kind `{}`", job.kind);
            return self.fail(fence, &error, Backoff::default()).await;
        };
        let options = handler.options();
        let ctx = JobContext {
            job,
            cancel: cancel.clone(),
            interrupt,
            pool: self.claimer.pool().clone(),
            call_bound: self.call_bound,
            steps: steps.clone(),
            step_watch: StepWatch {
                metrics: self.metrics.clone(),
                slow_after: self.slow_step_after,
            },
        };
        let work = AssertUnwindSafe(handler.run(ctx)).catch_unwind();
        let (outcome, timed_out) = match options.timeout {
            None => (work.await, None),
            Some(limit) => {
                tokio::pin!(work);
                tokio::select! {
                    outcome = &mut work => (outcome, None),
                    _ = tokio::time::sleep(limit) => {
                        // Cancelled as at the drain budget: the handler
                        // stops at its next check, and is never cut off
                        // mid-effect. Its lease is no longer renewed: one
                        // that stops ends well inside it, and one that
                        // ignores its token is left to it, and rescued.
                        cancel.cancel();
                        self.held.remove(fence);
                        (work.await, Some(limit))
                    }
                }
            }
        };
        let pool = self.claimer.pool();
        match outcome {
            Ok(Ok(Done::Completed(completed))) if completed.fence() == fence => Ending::Finished,
            Ok(Ok(Done::Completed(other))) => {
                // Another attempt's proof: this one's end is unknown, so it
                // is left to its lease, like any attempt whose end was not
                // recorded.
                let error = format!("the handler returned the completion of {}", other.fence());
                self.lease_left_to_expire(fence, "the attempt's own completion", &error)
            }
            Ok(Ok(Done::Acknowledged)) => match self.completer.complete(fence).await {
                Ok(true) => Ending::Finished,
                Ok(false) => Ending::LeaseLost,
                Err(error) => self.lease_left_to_expire(fence, "completion", &error),
            },
            Ok(Err(JobError::Cancelled)) if cancel_requested.get().is_some() => {
                let by = cancel_requested.get().map_or("?", String::as_str);
                let reason = format!("cancelled by {by}");
                let reason = redact(&reason);
                let discarded = queue::discard(pool, fence, &reason);
                self.recorded(fence, "discard", Ending::Discarded, discarded)
                    .await
            }
            Ok(Err(JobError::Cancelled)) => match timed_out {
                Some(limit) => {
                    let error = format!("timed out after {}", humantime::format_duration(limit));
                    self.fail(fence, &error, options.backoff).await
                }
                None => {
                    // Where lazily recorded steps got to goes with the
                    // release, so the next attempt starts there.
                    let cursor = steps.unwritten().map(|(_, cursor)| cursor);
                    let released = queue::release(pool, fence, cursor.as_ref());
                    let ending = if steps.stepped() {
                        Ending::Interrupted
                    } else {
                        Ending::Released
                    };
                    self.recorded(fence, "release", ending, released).await
                }
            },
            Ok(Err(JobError::LeaseLost)) => Ending::LeaseLost,
            Ok(Err(JobError::Failed(error))) => self.fail(fence, &error, options.backoff).await,
            Ok(Err(JobError::Discard(reason))) => {
                let reason = redact(&reason);
                let discarded = queue::discard(pool, fence, &reason);
                self.recorded(fence, "discard", Ending::Discarded, discarded)
                    .await
            }
            Ok(Err(JobError::Snooze(after))) => {
                let snoozed = queue::snooze(pool, fence, after, options.max_snoozes);
                match bounded(self.call_bound, snoozed).await {
                    Ok(true) => Ending::Snoozed,
                    Ok(false) => {
                        let error = format!(
                            "snoozed {} times; each snooze now spends an attempt",
                            options.max_snoozes
                        );
                        self.fail(fence, &error, options.backoff).await
                    }
                    Err(error) => self.lease_left_to_expire(fence, "snooze", &error),
                }
            }
            Ok(Err(JobError::Undecodable(error))) => {
                self.metrics.undecodable(handler.kind().name());
                let error = format!("payload cannot be decoded: {}", redact(&error));
                if self.undecodable == Undecodable::Discard {
                    let discarded = queue::discard(pool, fence, &error);
                    return self
                        .recorded(fence, "discard", Ending::Discarded, discarded)
                        .await;
                }
                let handed_back = queue::hand_back(pool, fence, &error, UNDECODABLE_BACKOFF);
                self.recorded(fence, "hand-back", Ending::HandedBack, handed_back)
                    .await
            }
            Err(panic) => {
                let message = shutdown::panic_message(panic.as_ref());
                let error = format!("panicked: {message}");
                self.fail(fence, &error, options.backoff).await
            }
        }
    }

    /// Sends a fenced statement that ends the attempt as `ending`.
    async fn recorded(
        &self,
        fence: Fence,
        what: &str,
        ending: Ending,
        statement: impl Future<Output = Result<bool, sqlx::Error>>,
    ) -> Ending {
        match bounded(self.call_bound, statement).await {
            Ok(true) => ending,
            Ok(false) => Ending::LeaseLost,
            Err(error) => self.lease_left_to_expire(fence, what, &error),
        }
    }

    async fn fail(&self, fence: Fence, error: &str, backoff: Backoff) -> Ending {
        let error = redact(error);
        let failed = queue::fail(self.claimer.pool(), fence, &error, backoff);
        match bounded(self.call_bound, failed).await {
            Ok(FailOutcome::Retrying) => Ending::Failed,
            Ok(FailOutcome::Discarded) => Ending::Discarded,
            Ok(FailOutcome::Lost) => Ending::LeaseLost,
            Err(db_error) => self.lease_left_to_expire(fence, "recording the failure", &db_error),
        }
    }

    /// The attempt's end could not be recorded: the job keeps its lease until
    /// it expires, and then runs again, which at-least-once allows.
    fn lease_left_to_expire(
        &self,
        fence: Fence,
        what: &str,
        error: &dyn std::fmt::Display,
    ) -> Ending {
        tracing::warn!(job_id = fence.id.0, claim = fence.claim, %error, "{what} failed; the lease will expire and the job run again");
        Ending::LeaseLost
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
