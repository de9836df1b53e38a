//! The rows that go in and come out.

use serde_json::Value;
use time::OffsetDateTime;

pub type JobId = i64;

/// Which job, and which claim of it. Every statement that ends or renews an
/// attempt presents the fence it claimed with, and changes nothing if the
/// job has been claimed again since: a stale worker can never overwrite a
/// newer attempt. Ordered by id first, the order every statement that locks
/// several jobs takes their rows in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fence {
    pub id: JobId,
    /// The job's claim counter, bumped by every claim.
    pub lease: i64,
}

impl std::fmt::Display for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "job {} lease {}", self.id, self.lease)
    }
}

/// A job to enqueue. Defaults: priority 0, 5 attempts, runnable now.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub payload: Value,
    /// Lower runs first.
    pub priority: i16,
    pub max_attempts: i32,
    pub run_at: Option<OffsetDateTime>,
    /// At most one job per key: a second enqueue with the same key is a no-op.
    pub unique_key: Option<String>,
    /// The W3C `traceparent` of whatever enqueued the job, so the job's span
    /// continues the request's trace.
    pub trace_context: Option<String>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            priority: 0,
            max_attempts: 5,
            run_at: None,
            unique_key: None,
            trace_context: None,
        }
    }

    pub fn unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    pub fn max_attempts(mut self, attempts: i32) -> Self {
        self.max_attempts = attempts;
        self
    }

    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    pub fn trace_context(mut self, traceparent: Option<String>) -> Self {
        self.trace_context = traceparent;
        self
    }
}

/// A job this process holds a lease on. `(id, lease)` is the fencing pair
/// every later statement about it must present.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: JobId,
    pub lease: i64,
    pub kind: String,
    pub payload: Value,
    /// 1 on the first run.
    pub attempt: i32,
    pub max_attempts: i32,
    pub trace_context: Option<String>,
}

impl ClaimedJob {
    pub fn fence(&self) -> Fence {
        Fence {
            id: self.id,
            lease: self.lease,
        }
    }
}
