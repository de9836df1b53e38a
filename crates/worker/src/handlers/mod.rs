//! Job handlers, registered by kind.
//!
//! A handler owns the meaning of a job; the runner owns its lease. Handlers
//! signal cancellation by returning [`JobError::Cancelled`] — only then is the
//! job released for someone else, because only then is its code known to have
//! stopped.

mod fulfil_order;
mod noop;
mod send_receipt;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use queue::ClaimedJob;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub use fulfil_order::FULFIL_ORDER;
pub use noop::NOOP;
pub use send_receipt::SEND_RECEIPT;

/// Everything a handler gets for one attempt.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub job: ClaimedJob,
    /// Cancelled when the shutdown's drain budget runs out, or when the
    /// heartbeat finds the lease lost.
    pub cancel: CancellationToken,
    pub pool: PgPool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// The handler completed the job itself, fenced, in the transaction that
    /// wrote its effect.
    Completed,
    /// The handler has no transactional effect: the runner completes the job
    /// (batched with others).
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
    #[error("{0}")]
    Failed(String),
    /// The payload is not what this kind expects. No retry can mend that, so
    /// the job is discarded at once, with the error in `last_error`.
    #[error("payload cannot be decoded: {0}")]
    Undecodable(String),
}

impl JobContext {
    /// The payload as `T`, or [`JobError::Undecodable`].
    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> Result<T, JobError> {
        T::deserialize(&self.job.payload).map_err(|error| JobError::Undecodable(error.to_string()))
    }
}

impl From<sqlx::Error> for JobError {
    fn from(error: sqlx::Error) -> Self {
        JobError::Failed(error.to_string())
    }
}

pub type Handler =
    Arc<dyn Fn(JobContext) -> BoxFuture<'static, Result<Done, JobError>> + Send + Sync>;

#[derive(Clone, Default)]
pub struct Handlers {
    by_kind: HashMap<String, Handler>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.by_kind.keys()).finish()
    }
}

impl Handlers {
    pub fn register(&mut self, kind: &str, handler: Handler) -> &mut Self {
        self.by_kind.insert(kind.to_owned(), handler);
        self
    }

    pub fn get(&self, kind: &str) -> Option<&Handler> {
        self.by_kind.get(kind)
    }

    /// The kinds this worker claims: every one it has a handler for.
    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.by_kind.keys().cloned().collect();
        kinds.sort();
        kinds
    }

    /// Keeps only `kinds` (`WORKER_KINDS`; all when empty), so a deployment
    /// can dedicate workers to some kinds; refuses a kind this build has no
    /// handler for.
    pub fn only_if(mut self, kinds: &[String]) -> Result<Self, String> {
        if kinds.is_empty() {
            return Ok(self);
        }
        if let Some(unknown) = kinds.iter().find(|kind| !self.by_kind.contains_key(*kind)) {
            return Err(format!(
                "WORKER_KINDS names `{unknown}`, which this worker has no handler for (it has: {})",
                self.kinds().join(", ")
            ));
        }
        self.by_kind.retain(|kind, _| kinds.contains(kind));
        Ok(self)
    }

    /// The handlers this service ships: the example domain's two kinds and
    /// a no-op for benchmarks.
    pub fn standard(work_time: Duration) -> Self {
        let mut handlers = Self::default();
        handlers.register(FULFIL_ORDER, fulfil_order::handler(work_time));
        handlers.register(SEND_RECEIPT, send_receipt::handler());
        handlers.register(NOOP, noop::handler());
        handlers
    }
}
