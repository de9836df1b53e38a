//! What a handler gets for one attempt, and what it may answer.

use queue::{ClaimedJob, Completed, Fence};
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
}

impl JobContext {
    pub fn fence(&self) -> Fence {
        self.job.fence
    }

    /// Completes this attempt's job in `tx`, the transaction that wrote its
    /// effect, and commits: the effect happens once, with the completion,
    /// or not at all. [`JobError::LeaseLost`] when the job is no longer
    /// ours; the transaction has been rolled back then.
    pub async fn complete(&self, tx: Transaction<'static, Postgres>) -> Result<Done, JobError> {
        match queue::complete(tx, self.fence()).await? {
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
    /// The handler stopped because it was asked to; the job is released.
    #[error("cancelled")]
    Cancelled,
    /// The fenced completion found the lease gone: someone else owns the job
    /// now, and this attempt's effect was rolled back.
    #[error("lease lost")]
    LeaseLost,
    /// Retried after a backoff, until its attempts are used up.
    #[error("{0}")]
    Failed(String),
    /// The payload is not what this kind expects. No retry can mend that, so
    /// the job is discarded at once, with the error in `last_error`.
    #[error("payload cannot be decoded: {0}")]
    Undecodable(String),
}

impl From<sqlx::Error> for JobError {
    fn from(error: sqlx::Error) -> Self {
        JobError::Failed(error.to_string())
    }
}
