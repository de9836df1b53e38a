//! Claims jobs as slots free up and runs each under its own lease and token.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use queue::{Backoff, ClaimedJob, FailOutcome, Leases};
use sqlx::postgres::PgListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::completer::Completer;
use crate::handlers::{Done, Handlers, JobContext, JobError};
use crate::held::Held;
use crate::metrics::JobMetrics;
use crate::tally::{Ending, Tally};

#[derive(Debug, Clone)]
pub struct Runner {
    pub leases: Leases,
    pub handlers: Arc<Handlers>,
    pub concurrency: u32,
    pub poll_interval: Duration,
    pub backoff: Backoff,
    pub held: Held,
    /// Every job task; the drain waits on it.
    pub jobs: TaskTracker,
    /// Parent of every job's token; cancelled by the cancel phase.
    pub cancel_jobs: CancellationToken,
    pub completer: Completer,
    pub tally: Tally,
    pub metrics: JobMetrics,
}

impl Runner {
    /// Claims until `stop` fires, then stops listening. Running jobs are not
    /// touched: they go on, with their heartbeats, into the drain.
    pub async fn claim_until(self, stop: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.concurrency as usize));
        let mut listener = self.listen().await;
        loop {
            let first = tokio::select! {
                permit = slots.clone().acquire_owned() => permit.expect("never closed"),
                _ = stop.cancelled() => break,
            };
            let mut permits = vec![first];
            while let Ok(permit) = slots.clone().try_acquire_owned() {
                permits.push(permit);
            }
            let claimed = match self.leases.claim(permits.len() as u32).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "claim failed; retrying after the poll interval");
                    Vec::new()
                }
            };
            let found_work = !claimed.is_empty();
            for (job, permit) in claimed.into_iter().zip(permits.drain(..)) {
                self.spawn(job, permit);
            }
            drop(permits);
            if !found_work {
                tokio::select! {
                    _ = wait_for_hint(&mut listener) => {}
                    _ = tokio::time::sleep(self.poll_interval) => {}
                    _ = stop.cancelled() => break,
                }
            }
        }
        if let Some(mut listener) = listener
            && let Err(error) = listener.unlisten_all().await
        {
            tracing::debug!(%error, "unlisten failed; the connection closes anyway");
        }
    }

    /// LISTEN is only a hint; without it the worker still polls.
    async fn listen(&self) -> Option<PgListener> {
        let mut listener = match PgListener::connect_with(self.leases.pool()).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot LISTEN; polling only");
                return None;
            }
        };
        match listener.listen(queue::CHANNEL).await {
            Ok(()) => Some(listener),
            Err(error) => {
                tracing::warn!(%error, "cannot LISTEN; polling only");
                None
            }
        }
    }

    fn spawn(&self, job: ClaimedJob, permit: OwnedSemaphorePermit) {
        let cancel = self.cancel_jobs.child_token();
        self.held.insert(job.id, job.lease, cancel.clone());
        let runner = self.clone();
        // The job's span continues the trace of the request that enqueued it.
        let span =
            tracing::info_span!("job", job_id = job.id, kind = %job.kind, attempt = job.attempt);
        telemetry::continue_trace(&span, job.trace_context.as_deref());
        self.metrics.started();
        let job_task = async move {
            let (id, lease, kind) = (job.id, job.lease, job.kind.clone());
            let claimed = std::time::Instant::now();
            let ending = runner.run(job, cancel).await;
            runner.held.remove(id);
            runner.tally.record(ending);
            runner.metrics.record(&kind, ending, claimed.elapsed());
            if ending != Ending::Finished {
                tracing::info!(job_id = id, lease, ?ending, "job did not finish");
            }
            drop(permit);
        };
        self.jobs
            .spawn(tracing::Instrument::instrument(job_task, span));
    }

    /// Runs one attempt and records how it ended, fenced on its lease.
    async fn run(&self, job: ClaimedJob, cancel: CancellationToken) -> Ending {
        let (id, lease) = (job.id, job.lease);
        let Some(handler) = self.handlers.get(&job.kind).cloned() else {
            let error = format!("no handler for kind `{}`", job.kind);
            return self.fail(id, lease, &error).await;
        };
        let ctx = JobContext {
            job,
            cancel,
            pool: self.leases.pool().clone(),
        };
        let outcome = AssertUnwindSafe(handler(ctx)).catch_unwind().await;
        let pool = self.leases.pool();
        match outcome {
            Ok(Ok(Done::Completed)) => Ending::Finished,
            Ok(Ok(Done::Acknowledged)) => match self.completer.complete(id, lease).await {
                Ok(true) => Ending::Finished,
                Ok(false) => Ending::LeaseLost,
                Err(error) => {
                    tracing::warn!(job_id = id, %error, "completion failed; the lease will expire and the job run again");
                    Ending::LeaseLost
                }
            },
            Ok(Err(JobError::Cancelled)) => match queue::release(pool, id, lease).await {
                Ok(true) => Ending::Released,
                Ok(false) => Ending::LeaseLost,
                Err(error) => {
                    tracing::warn!(job_id = id, %error, "release failed; the lease will expire instead");
                    Ending::LeaseLost
                }
            },
            Ok(Err(JobError::LeaseLost)) => Ending::LeaseLost,
            Ok(Err(JobError::Failed(error))) => self.fail(id, lease, &error).await,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic".to_owned());
                self.fail(id, lease, &format!("panicked: {message}")).await
            }
        }
    }

    async fn fail(&self, id: i64, lease: i64, error: &str) -> Ending {
        match queue::fail(self.leases.pool(), id, lease, error, self.backoff).await {
            Ok(FailOutcome::Retrying) => Ending::Failed,
            Ok(FailOutcome::Discarded) => Ending::Discarded,
            Ok(FailOutcome::Lost) => Ending::LeaseLost,
            Err(db_error) => {
                tracing::warn!(job_id = id, %db_error, "recording the failure failed; the lease will expire instead");
                Ending::LeaseLost
            }
        }
    }
}

async fn wait_for_hint(listener: &mut Option<PgListener>) {
    match listener {
        Some(listener) => {
            if let Err(error) = listener.recv().await {
                tracing::debug!(%error, "notification stream broke; it reconnects on the next recv");
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}
