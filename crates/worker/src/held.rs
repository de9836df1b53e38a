//! The leases this process holds, and how to stop the work behind each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use queue::JobId;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Default)]
pub struct Held {
    inner: Arc<Mutex<HashMap<JobId, (i64, CancellationToken)>>>,
}

impl Held {
    pub fn insert(&self, id: JobId, lease: i64, cancel: CancellationToken) {
        self.lock().insert(id, (lease, cancel));
    }

    pub fn remove(&self, id: JobId) {
        self.lock().remove(&id);
    }

    pub fn leases(&self) -> Vec<(JobId, i64)> {
        self.lock()
            .iter()
            .map(|(id, (lease, _))| (*id, *lease))
            .collect()
    }

    /// Cancels the work of a job whose lease is no longer ours. Its fenced
    /// completion would fail anyway; cancelling stops it wasting effort.
    pub fn cancel_lost(&self, id: JobId, lease: i64) {
        if let Some((held_lease, cancel)) = self.lock().get(&id)
            && *held_lease == lease
        {
            cancel.cancel();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, (i64, CancellationToken)>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
