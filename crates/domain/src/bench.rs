//! Jobs that exist to measure the queue, not to do anything.

use queue::Job;
use serde::{Deserialize, Serialize};

/// Does nothing, so benchmarks and tests measure the queue and the runner.
/// Its handler acknowledges it, and the runner completes it in a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Noop {}

impl Job for Noop {
    const KIND: &'static str = "noop";
}
