//! What a handler gets for one attempt, and what it may answer.
//!
//! Every answer but success names what should happen to the job next, so
//! the runner never guesses: run it again after a backoff ([`JobError::Failed`]),
//! never again ([`JobError::Discard`]), later without spending an attempt
//! ([`JobError::Snooze`]), or now, elsewhere ([`JobError::Cancelled`]).

use std::time::Duration;

use queue::{ClaimedJob, Completed, Fence};
use service::db::bounded;
use sqlx::{PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;

/// Everything a handler gets for one attempt.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub job: ClaimedJob,
    /// Cancelled when the shutdown's drain budget runs out, or when this
    /// process can no longer prove the lease is its own. Check it before
    /// every effect; a handler that never looks is left to its lease.
    pub cancel: CancellationToken,
    pub pool: PgPool,
    /// The longest a healthy database takes to answer one call
    /// (`DatabaseArgs::call_bound`), as for every other queue call.
    pub(crate) call_bound: Duration,
}

impl JobContext {
    pub fn fence(&self) -> Fence {
        self.job.fence
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
    /// lease, or the kind's timeout). At the drain budget and on a lost lease
    /// the job is released with its attempt given back; past the kind's
    /// timeout the attempt is failed.
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
