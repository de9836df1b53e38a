//! The contract between the runner and the code of a job kind: a handler is
//! a value that owns what it needs (clients, settings), built once at
//! start-up, and says how its kind is run ([`KindOptions`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use domain::{DeclaredJob, JobKind};
use futures::FutureExt;
use futures::future::BoxFuture;
use queue::Backoff;

use crate::context::{Done, JobContext, JobError};

/// Runs the jobs of one declared kind.
///
/// ```
/// use worker::{Done, JobContext, JobError, JobHandler, KindOptions};
///
/// struct Noop;
///
/// impl JobHandler for Noop {
///     type Job = domain::Noop;
///
///     async fn run(&self, _job: domain::Noop, _ctx: JobContext) -> Result<Done, JobError> {
///         Ok(Done::Acknowledged)
///     }
/// }
/// ```
pub trait JobHandler: Send + Sync + 'static {
    /// The payload type, which names the kind. It must be on the domain's
    /// list of kinds ([`DeclaredJob`]), so a handler for a kind nobody
    /// declared does not compile:
    ///
    /// ```compile_fail,E0277
    /// # use worker::{Done, JobContext, JobError, JobHandler};
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct RefundOrder {}
    ///
    /// impl queue::Job for RefundOrder {
    ///     const KIND: &'static str = "refund_order";
    /// }
    ///
    /// struct Refunds;
    ///
    /// impl JobHandler for Refunds {
    ///     type Job = RefundOrder; // not in `domain::JobKind`
    ///
    ///     async fn run(&self, _job: RefundOrder, _ctx: JobContext) -> Result<Done, JobError> {
    ///         Ok(Done::Acknowledged)
    ///     }
    /// }
    /// ```
    type Job: DeclaredJob;

    fn options(&self) -> KindOptions {
        KindOptions::default()
    }

    fn run(
        &self,
        job: Self::Job,
        ctx: JobContext,
    ) -> impl Future<Output = Result<Done, JobError>> + Send;
}

/// How a kind is run. Its attempts are the payload type's
/// [`queue::Job::MAX_ATTEMPTS`], not an option here: whoever enqueues writes them
/// on the job, so the api and every release's worker agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindOptions {
    /// Past it the attempt's token is cancelled, as at the drain budget, and
    /// a handler that stops is failed with its kind's backoff. `None`: no
    /// limit, for work that checks its token and must not be cut.
    pub timeout: Option<Duration>,
    pub backoff: Backoff,
    /// Snoozes per job that give their attempt back; later ones spend it.
    pub max_snoozes: i32,
}

impl Default for KindOptions {
    /// Five minutes, the queue's backoff (1 s doubling to 1 h), 100 snoozes.
    fn default() -> Self {
        Self {
            timeout: Some(Duration::from_secs(300)),
            backoff: Backoff::default(),
            max_snoozes: 100,
        }
    }
}

type Run = Arc<dyn Fn(JobContext) -> BoxFuture<'static, Result<Done, JobError>> + Send + Sync>;

/// A handler with its payload type erased: it decodes the payload itself.
#[derive(Clone)]
pub struct Registered {
    kind: JobKind,
    options: KindOptions,
    run: Run,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("kind", &self.kind)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Registered {
    pub fn new<H: JobHandler>(handler: H) -> Self {
        let options = handler.options();
        let handler = Arc::new(handler);
        let run: Run = Arc::new(move |ctx: JobContext| {
            let handler = handler.clone();
            // Decoded inside the future, which the runner polls under
            // `catch_unwind`: a `Deserialize` that panics fails the job
            // like any other panic.
            async move {
                let payload = ctx
                    .job
                    .decode::<H::Job>()
                    .map_err(|error| JobError::Undecodable(error.to_string()))?;
                handler.run(payload, ctx).await
            }
            .boxed()
        });
        Self {
            kind: <H::Job as DeclaredJob>::DECLARED,
            options,
            run,
        }
    }

    pub fn kind(&self) -> JobKind {
        self.kind
    }

    pub fn options(&self) -> KindOptions {
        self.options
    }

    pub fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<Done, JobError>> {
        (self.run)(ctx)
    }
}

/// The handlers a worker runs, by `jobs.kind`.
#[derive(Debug, Clone, Default)]
pub struct Handlers {
    by_kind: std::collections::BTreeMap<&'static str, Registered>,
}

impl Handlers {
    /// One handler for every declared kind. `handler_for` is an exhaustive
    /// `match` over [`JobKind`], so a kind without a handler does not
    /// compile.
    ///
    /// # Panics
    /// If `handler_for` answers a kind with another kind's handler, a
    /// mistake the match cannot see; the handlers' unit test builds them.
    pub fn declared(mut handler_for: impl FnMut(JobKind) -> Registered) -> Self {
        let mut handlers = Self::default();
        for &kind in JobKind::ALL {
            let registered = handler_for(kind);
            assert_eq!(
                registered.kind(),
                kind,
                "the handler registered for `{kind}` runs `{}` jobs",
                registered.kind()
            );
            handlers.by_kind.insert(kind.name(), registered);
        }
        handlers
    }

    /// Just these handlers: for tests, and for a worker built for some kinds.
    pub fn only(registered: impl IntoIterator<Item = Registered>) -> Self {
        Self {
            by_kind: registered
                .into_iter()
                .map(|registered| (registered.kind().name(), registered))
                .collect(),
        }
    }

    pub fn get(&self, kind: &str) -> Option<&Registered> {
        self.by_kind.get(kind)
    }

    /// The kinds this worker claims: every one it has a handler for, sorted.
    pub fn kinds(&self) -> Vec<String> {
        self.by_kind.keys().map(|kind| (*kind).to_owned()).collect()
    }

    /// Keeps only `kinds` (`WORKER_KINDS`; all when empty), so a deployment
    /// can dedicate workers to some kinds; refuses a kind this build has no
    /// handler for.
    pub fn only_if(mut self, kinds: &[String]) -> Result<Self, String> {
        if kinds.is_empty() {
            return Ok(self);
        }
        if let Some(unknown) = kinds
            .iter()
            .find(|kind| !self.by_kind.contains_key(kind.as_str()))
        {
            return Err(format!(
                "WORKER_KINDS names `{unknown}`, which this worker has no handler for (it has: {})",
                self.kinds().join(", ")
            ));
        }
        self.by_kind
            .retain(|kind, _| kinds.iter().any(|wanted| wanted == kind));
        Ok(self)
    }
}
