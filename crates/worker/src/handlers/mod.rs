//! Job handlers, registered by job type.
//!
//! A handler owns the meaning of a job; the runner owns its lease. Handlers
//! signal cancellation by returning [`JobError::Cancelled`] — only then is the
//! job released for someone else, because only then is its code known to have
//! stopped.

mod context;
mod fulfil_order;
mod noop;
mod send_receipt;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use queue::Job;

pub use context::{Done, JobContext, JobError};

/// A handler with its payload type erased: it decodes the payload itself.
pub type Handler =
    Arc<dyn Fn(JobContext) -> BoxFuture<'static, Result<Done, JobError>> + Send + Sync>;

#[derive(Clone, Default)]
pub struct Handlers {
    by_kind: BTreeMap<&'static str, Handler>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.by_kind.keys()).finish()
    }
}

impl Handlers {
    /// Runs `handler` for every job of type `J`, with its decoded payload. A
    /// payload that does not decode as `J` is discarded at once
    /// ([`JobError::Undecodable`]): no retry would change it.
    ///
    /// # Panics
    /// If `J`'s kind already has a handler: two handlers for one kind is a
    /// mistake to find at start-up, not a choice to make at run time.
    pub fn register<J, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        J: Job,
        F: Fn(J, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Done, JobError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased: Handler = Arc::new(move |ctx: JobContext| {
            let handler = handler.clone();
            // Decoded inside the future, which the runner polls under
            // `catch_unwind`: a `Deserialize` that panics fails the job
            // like any other panic.
            async move {
                let payload = ctx
                    .job
                    .decode::<J>()
                    .map_err(|error| JobError::Undecodable(error.to_string()))?;
                handler(payload, ctx).await
            }
            .boxed()
        });
        let previous = self.by_kind.insert(J::KIND, erased);
        assert!(
            previous.is_none(),
            "two handlers for job kind `{}`",
            J::KIND
        );
        self
    }

    pub fn get(&self, kind: &str) -> Option<&Handler> {
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

    /// The handlers this service ships: the example domain's two kinds and
    /// a no-op for benchmarks. A new kind is registered here
    /// (docs/extending.md).
    pub fn standard(work_time: Duration) -> Self {
        let mut handlers = Self::default();
        handlers
            .register(move |order, ctx| fulfil_order::fulfil(order, ctx, work_time))
            .register(send_receipt::send)
            .register(noop::acknowledge);
        handlers
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use domain::{FulfilOrder, Noop, SendReceipt};

    use super::*;

    #[test]
    fn the_kinds_claimed_are_the_registered_types_kinds() {
        let handlers = Handlers::standard(Duration::ZERO);
        assert_eq!(
            handlers.kinds(),
            [FulfilOrder::KIND, Noop::KIND, SendReceipt::KIND]
        );
        let only = handlers.only_if(&[Noop::KIND.to_owned()]).unwrap();
        assert_eq!(only.kinds(), [Noop::KIND]);
    }

    #[test]
    #[should_panic(expected = "two handlers for job kind `noop`")]
    fn a_second_handler_for_a_kind_is_refused_at_start_up() {
        let mut handlers = Handlers::standard(Duration::ZERO);
        handlers.register(noop::acknowledge);
    }
}
