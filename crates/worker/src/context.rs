//! What a handler gets for one attempt, and what it may answer.
//!
//! Every answer but success names what should happen to the job next, so
//! the runner never guesses: run it again after a backoff ([`JobError::Failed`]),
//! never again ([`JobError::Discard`]), later without spending an attempt
//! ([`JobError::Snooze`]), or now, elsewhere ([`JobError::Cancelled`]).

use std::time::Duration;

use queue::{ClaimedJob, Completed, Fence};
use serde::Serialize;
use serde::de::DeserializeOwned;
use service::db::bounded;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics::JobMetrics;
use crate::steps::Steps;

/// Everything a handler gets for one attempt.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub job: ClaimedJob,
    /// Cancelled when the shutdown's drain budget runs out, or when this
    /// process can no longer prove the lease is its own. Check it before
    /// every effect; a handler that never looks is left to its lease.
    pub cancel: CancellationToken,
    /// For a handler that works in steps: cancelled with `cancel`, and also
    /// as soon as the drain begins, since a job that resumes from its cursor
    /// loses nothing by going on elsewhere. [`JobContext::step_boundary`]
    /// reads it; a step's own wait may select on it.
    pub interrupt: CancellationToken,
    pub pool: PgPool,
    /// The longest a healthy database takes to answer one call
    /// (`DatabaseArgs::call_bound`), as for every other queue call.
    pub(crate) call_bound: Duration,
    pub(crate) steps: Steps,
    pub(crate) step_watch: StepWatch,
}

/// What a step's time is measured against.
#[derive(Debug, Clone)]
pub(crate) struct StepWatch {
    pub metrics: JobMetrics,
    /// Half the drain budget: a step longer than this cannot be relied on to
    /// end inside the drain, so its job may be cut at a deploy.
    pub slow_after: Duration,
}

impl JobContext {
    pub fn fence(&self) -> Fence {
        self.job.fence
    }

    /// Where this job's earlier attempts got to: the cursor of the last
    /// committed [`checkpoint`](Self::checkpoint) (or lazily recorded one),
    /// `None` on a first run. A cursor this release cannot decode (written
    /// by a newer one) hands the job back, as a payload would.
    pub fn cursor<C: DeserializeOwned>(&self) -> Result<Option<C>, JobError> {
        self.steps.mark_stepped();
        self.job
            .cursor
            .as_ref()
            .map(C::deserialize)
            .transpose()
            .map_err(|error| JobError::Undecodable(format!("cursor: {error}")))
    }

    /// Call before each step: `Err(JobError::Cancelled)` when the attempt
    /// should stop here (the drain began, the lease is in doubt, the kind's
    /// timeout passed). Returned from the handler, the job is released at
    /// once with its cursor and its attempt given back: interrupted, not
    /// failed, and listed in the shutdown report.
    pub fn step_boundary(&self) -> Result<(), JobError> {
        self.steps.mark_stepped();
        if self.interrupt.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        Ok(())
    }

    /// Ends a step: records `next` as the job's cursor in `tx`, the
    /// transaction that wrote the step's effect, fenced by this attempt's
    /// lease, and commits. The step's effect and its cursor commit together
    /// or not at all, so across any number of interruptions each step's
    /// database effect happens once. [`JobError::LeaseLost`] when the job is
    /// no longer ours; `tx` has been rolled back then.
    ///
    /// Takes the transaction and commits it, as [`complete`](Self::complete)
    /// does, so the worker knows which steps committed. Bounded like every
    /// queue call; a commit that gets no answer fails the attempt, and the
    /// next one starts from whichever cursor did commit.
    pub async fn checkpoint<C: Serialize>(
        &self,
        mut tx: Transaction<'static, Postgres>,
        next: &C,
    ) -> Result<(), JobError> {
        let cursor = serde_json::to_value(next).map_err(JobError::failed)?;
        let fence = self.fence();
        let step = async move {
            if !queue::checkpoint(&mut *tx, fence, &cursor).await? {
                tx.rollback().await?;
                return Ok(false);
            }
            tx.commit().await?;
            Ok(true)
        };
        if !bounded(self.call_bound, step).await? {
            return Err(JobError::LeaseLost);
        }
        self.step_ended(None);
        Ok(())
    }

    /// Ends a step that has no transaction (a call out, a file written):
    /// `next` is written with the next heartbeat, or when the job is
    /// released, whichever comes first. Such a step is at least once: an
    /// attempt that dies before the write leaves the cursor of an earlier
    /// step, and the steps since run again.
    pub fn checkpoint_lazily<C: Serialize>(&self, next: &C) -> Result<(), JobError> {
        let cursor = serde_json::to_value(next).map_err(JobError::failed)?;
        self.step_ended(Some(cursor));
        Ok(())
    }

    /// Steps this attempt has done.
    pub fn steps_done(&self) -> u32 {
        self.steps.done()
    }

    fn step_ended(&self, lazy_cursor: Option<serde_json::Value>) {
        let took = self.steps.ended(Instant::now(), lazy_cursor);
        let watch = &self.step_watch;
        watch.metrics.step(&self.job.kind, took);
        if took >= watch.slow_after {
            watch.metrics.slow_step(&self.job.kind);
            tracing::warn!(
                job_id = self.job.fence.id.0,
                kind = %self.job.kind,
                step_ms = took.as_millis() as u64,
                slow_after_ms = watch.slow_after.as_millis() as u64,
                "a step took more than half the drain budget: at a deploy this job may not reach a step boundary in time; make its steps smaller (docs/extending.md)"
            );
        }
    }

    /// Completes this attempt's job in `tx`, the transaction that wrote its
    /// effect, and commits: the effect happens once, with the completion,
    /// or not at all. [`JobError::LeaseLost`] when the job is no longer
    /// ours; the transaction has been rolled back then.
    ///
    /// Bounded like every queue call. A commit that gets no answer in time
    /// fails the attempt, and that failure is fenced too: if the commit did
    /// land, the job is completed and the failure changes nothing.
    pub async fn complete(&self, tx: Transaction<'static, Postgres>) -> Result<Done, JobError> {
        let completion = bounded(self.call_bound, queue::complete(tx, self.fence()));
        match completion.await? {
            Some(completed) => Ok(Done::Completed(completed)),
            None => Err(JobError::LeaseLost),
        }
    }
}

/// How a handler's attempt succeeded.
#[derive(Debug, PartialEq, Eq)]
pub enum Done {
    /// The handler completed the job itself, fenced, in the transaction that
    /// wrote its effect ([`JobContext::complete`]); only that completion
    /// makes a [`Completed`].
    Completed(Completed),
    /// The handler has no transactional effect: the runner completes the job
    /// (batched with others), fenced.
    Acknowledged,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The handler stopped because it was asked to (the drain budget, a lost
    /// lease, or the kind's timeout; for a handler that works in steps, also
    /// the drain's start). At the drain and on a lost lease the job is
    /// released with its attempt given back (interrupted, for a handler
    /// that works in steps); past the kind's timeout the attempt is failed.
    #[error("cancelled")]
    Cancelled,
    /// The fenced completion found the lease gone: someone else owns the job
    /// now, and this attempt's effect was rolled back.
    #[error("lease lost")]
    LeaseLost,
    /// Retried after the kind's backoff, until its attempts are used up.
    #[error("{0}")]
    Failed(String),
    /// Failed for good: no retry can mend it (the order does not exist). The
    /// job is discarded at once, kept for `QUEUE_RETAIN_DISCARDED` with the
    /// reason in `last_error`.
    #[error("discarded: {0}")]
    Discard(String),
    /// Not yet: run again after this long, the attempt not spent (a
    /// dependency is not ready). Capped by the kind's
    /// [`KindOptions::max_snoozes`](crate::KindOptions); past it a snooze
    /// spends an attempt.
    #[error("snoozed for {0:?}")]
    Snooze(Duration),
    /// The payload is not what this release's type for the kind expects.
    /// Another release may decode it (a newer one, mid-rollout), so the job
    /// is handed back with a backoff, its attempt not spent, never discarded
    /// (docs/migrations.md).
    #[error("payload cannot be decoded: {0}")]
    Undecodable(String),
}

impl JobError {
    pub fn failed(error: impl std::fmt::Display) -> Self {
        JobError::Failed(error.to_string())
    }

    pub fn discard(reason: impl std::fmt::Display) -> Self {
        JobError::Discard(reason.to_string())
    }
}

impl From<sqlx::Error> for JobError {
    fn from(error: sqlx::Error) -> Self {
        JobError::failed(error)
    }
}
