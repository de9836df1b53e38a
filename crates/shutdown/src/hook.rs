//! What a shutdown hook sees while it runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

/// The error a hook may return. Anything boxable works, `anyhow::Error` too.
pub type HookError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Passed to every hook.
#[derive(Debug, Clone)]
pub struct HookContext {
    pub(crate) deadline: Instant,
    pub(crate) counts: Counts,
}

impl HookContext {
    /// When the hook's budget ends. Past it the hook is abandoned, so a hook
    /// that can do something smarter than be cut off (release work, log what
    /// it gives up) should plan for this instant.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// A handle to this hook's counts in the report. It can be cloned into
    /// the tasks doing the work; what they record survives even when the
    /// hook itself overruns and is abandoned.
    pub fn counts(&self) -> Counts {
        self.counts.clone()
    }
}

/// Named counts a hook reports, such as `requests_drained` or
/// `jobs_released`, and named lists of what a person must be able to find
/// afterwards by name, such as the jobs handed back unfinished.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    inner: Arc<Mutex<Recorded>>,
}

#[derive(Debug, Default)]
struct Recorded {
    counts: BTreeMap<String, u64>,
    lists: BTreeMap<String, Vec<serde_json::Value>>,
}

impl Counts {
    pub fn set(&self, name: &str, value: u64) {
        self.lock().counts.insert(name.to_owned(), value);
    }

    pub fn add(&self, name: &str, value: u64) {
        *self.lock().counts.entry(name.to_owned()).or_default() += value;
    }

    /// Saturates at zero.
    pub fn sub(&self, name: &str, value: u64) {
        let mut recorded = self.lock();
        let count = recorded.counts.entry(name.to_owned()).or_default();
        *count = count.saturating_sub(value);
    }

    pub fn get(&self, name: &str) -> Option<u64> {
        self.lock().counts.get(name).copied()
    }

    /// Adds `item` to the list `name` (`interrupted`: one entry per job).
    pub fn push(&self, name: &str, item: serde_json::Value) {
        self.lock()
            .lists
            .entry(name.to_owned())
            .or_default()
            .push(item);
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<String, u64> {
        self.lock().counts.clone()
    }

    pub(crate) fn lists(&self) -> BTreeMap<String, Vec<serde_json::Value>> {
        self.lock().lists.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        // A panicking hook may poison the lock; its counts are still worth reporting.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
