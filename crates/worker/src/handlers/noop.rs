//! A job that does nothing, so benchmarks measure the queue and the runner.

use futures::FutureExt;

use super::{Done, Handler};

pub const NOOP: &str = "noop";

pub fn handler() -> Handler {
    std::sync::Arc::new(|_ctx| async { Ok(Done::Acknowledged) }.boxed())
}
