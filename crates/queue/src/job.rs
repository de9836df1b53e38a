//! The rows that go in and come out, and the types that name them.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;

/// A kind of job: its name in the queue, declared once, and its payload,
/// which is the type itself. Enqueueing takes a value of the type and a
/// handler registers for the type, so a misspelt kind does not compile.
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct SendInvoice { invoice_id: i64 }
///
/// impl queue::Job for SendInvoice {
///     const KIND: &'static str = "send_invoice";
/// }
/// ```
///
/// The payload is stored as JSON and read back by whichever release's
/// worker claims it, so change it the way you change a table: add fields
/// with `#[serde(default)]` first, and remove them a release later.
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The value of `jobs.kind`. Renaming it strands the jobs already
    /// queued under the old name (docs/extending.md).
    const KIND: &'static str;
    /// Attempts before the job is discarded; [`NewJob::max_attempts`]
    /// overrides it for one job.
    const MAX_ATTEMPTS: i32 = 5;
}

/// A job's primary key. A type of its own so that it cannot be swapped
/// with the claim counter it travels with.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::Type, serde::Serialize,
)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Which job, and which claim of it. Every statement that ends or renews an
/// attempt presents the fence it claimed with, and changes nothing if the
/// job has been claimed again since: a stale worker can never overwrite a
/// newer attempt. Ordered by id first, the order every statement that locks
/// several jobs takes their rows in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::FromRow)]
pub struct Fence {
    pub id: JobId,
    /// The job's claim counter, bumped by every claim (the `lease` column:
    /// it counts leases granted; the lease's length is a duration, set by
    /// `QUEUE_LEASE`).
    #[sqlx(rename = "lease")]
    pub claim: i64,
}

impl std::fmt::Display for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "job {} claim {}", self.id, self.claim)
    }
}

/// A job to enqueue. Defaults: priority 0, [`Job::MAX_ATTEMPTS`], runnable
/// now.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub(crate) kind: &'static str,
    /// The payload as JSON, or why it could not be made: a payload type
    /// whose `Serialize` fails is reported by the enqueue, before anything
    /// is written, rather than by every call site.
    pub(crate) payload: Result<Value, String>,
    pub(crate) priority: i16,
    pub(crate) max_attempts: i32,
    pub(crate) run_at: Option<OffsetDateTime>,
    pub(crate) unique_key: Option<String>,
    pub(crate) trace_context: Option<String>,
}

impl NewJob {
    pub fn new<J: Job>(job: &J) -> Self {
        Self {
            kind: J::KIND,
            payload: serde_json::to_value(job).map_err(|error| error.to_string()),
            priority: 0,
            max_attempts: J::MAX_ATTEMPTS,
            run_at: None,
            unique_key: None,
            trace_context: None,
        }
    }

    /// At most one job per key: a second enqueue with the same key is a
    /// no-op.
    pub fn unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    pub fn max_attempts(mut self, attempts: i32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Lower runs first.
    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    /// Not before this time.
    pub fn run_at(mut self, at: OffsetDateTime) -> Self {
        self.run_at = Some(at);
        self
    }

    /// The W3C `traceparent` of whatever enqueued the job, so the job's span
    /// continues the request's trace.
    pub fn trace_context(mut self, traceparent: Option<String>) -> Self {
        self.trace_context = traceparent;
        self
    }
}

/// A job this process holds a lease on. Its [`Fence`] is what every later
/// statement about it must present.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClaimedJob {
    #[sqlx(flatten)]
    pub fence: Fence,
    pub kind: String,
    /// Decoded by the handler registered for `kind` (see [`Job`]).
    pub payload: Value,
    /// 1 on the first run.
    pub attempt: i32,
    pub max_attempts: i32,
    pub trace_context: Option<String>,
    /// Where the job's last attempts got to ([`crate::checkpoint`]); `None`
    /// for a job that has not recorded a step.
    pub cursor: Option<Value>,
}

impl ClaimedJob {
    /// The payload as `J`. An error here is for good: no retry changes the
    /// payload, so the job should be discarded, not failed.
    pub fn decode<J: Job>(&self) -> Result<J, serde_json::Error> {
        J::deserialize(&self.payload)
    }
}
