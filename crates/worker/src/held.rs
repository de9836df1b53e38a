//! The leases this process holds, how to stop the work behind each, and
//! until when each is known to be ours.
//!
//! Keyed by [`Fence`], not by job id: after an outage longer than the lease,
//! this process may hold attempt L+1 of a job whose attempt L still runs
//! here. Each attempt must remove only its own entry, or L ending would
//! orphan L+1, which would then go unrenewed and be run a third time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use queue::Fence;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::steps::Steps;

#[derive(Debug, Clone)]
pub struct Held {
    inner: Arc<Mutex<BTreeMap<Fence, Lease>>>,
    /// `QUEUE_LEASE`: how long a claim or a renewal keeps a job ours.
    lease_length: Duration,
}

/// One attempt's tokens and steps, as its handler sees them.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub cancel: CancellationToken,
    /// A child of `cancel`; see `Lease::interrupt`.
    pub interrupt: CancellationToken,
    pub steps: Steps,
    /// Who asked, from outside, for the job to be cancelled
    /// (`worker jobs cancel`): stopped, it is discarded, not released.
    pub cancel_requested: Arc<OnceLock<String>>,
}

impl Attempt {
    /// An attempt no heartbeat renews: the in-process tests'.
    pub fn new(cancel: CancellationToken) -> Self {
        Self {
            interrupt: cancel.child_token(),
            cancel,
            steps: Steps::new(Instant::now()),
            cancel_requested: Arc::default(),
        }
    }
}

#[derive(Debug)]
struct Lease {
    cancel: CancellationToken,
    /// A child of `cancel`, also cancelled when the drain begins: a handler
    /// that works in steps stops at its next step boundary then, and its
    /// job resumes from its cursor on another worker at once.
    interrupt: CancellationToken,
    steps: Steps,
    cancel_requested: Arc<OnceLock<String>>,
    /// When the lease runs out as far as this process can prove: the lease
    /// counted from when the statement that set it was *sent*, which is no
    /// later than the database's own `lease_expires_at`.
    ours_until: Instant,
}

impl Held {
    pub fn new(lease_length: Duration) -> Self {
        Self {
            inner: Arc::default(),
            lease_length,
        }
    }

    /// Records a claim whose statement was sent at `claim_sent`; returns what
    /// its handler is given to stop by and to count its steps in.
    pub fn insert(&self, fence: Fence, cancel: CancellationToken, claim_sent: Instant) -> Attempt {
        let ours_until = claim_sent + self.lease_length;
        let attempt = Attempt::new(cancel);
        let lease = Lease {
            cancel: attempt.cancel.clone(),
            interrupt: attempt.interrupt.clone(),
            steps: attempt.steps.clone(),
            cancel_requested: attempt.cancel_requested.clone(),
            ours_until,
        };
        self.lock().insert(fence, lease);
        attempt
    }

    /// Asks every attempt that works in steps to stop at its next step
    /// boundary: the drain has begun, and its job can go on elsewhere.
    pub fn interrupt_all(&self) {
        for lease in self.lock().values() {
            lease.interrupt.cancel();
        }
    }

    /// The cursors steps recorded lazily and no heartbeat has written yet,
    /// with the step that recorded each.
    pub fn unwritten_cursors(&self) -> Vec<(Fence, u32, serde_json::Value)> {
        self.lock()
            .iter()
            .filter_map(|(fence, lease)| {
                let (step, cursor) = lease.steps.unwritten()?;
                Some((*fence, step, cursor))
            })
            .collect()
    }

    /// A heartbeat wrote these cursors.
    pub fn cursors_written(&self, written: &[(Fence, u32)]) {
        let held = self.lock();
        for (fence, step) in written {
            if let Some(lease) = held.get(fence) {
                lease.steps.written(*step);
            }
        }
    }

    /// Forgets one attempt; another attempt of the same job stays.
    pub fn remove(&self, fence: Fence) {
        self.lock().remove(&fence);
    }

    /// Every held fence, in id order.
    pub fn fences(&self) -> Vec<Fence> {
        self.lock().keys().copied().collect()
    }

    /// Extends the leases a heartbeat sent at `sent` renewed.
    pub fn renewed(&self, fences: &[Fence], sent: Instant) {
        let mut held = self.lock();
        for fence in fences {
            if let Some(lease) = held.get_mut(fence) {
                lease.ours_until = lease.ours_until.max(sent + self.lease_length);
            }
        }
    }

    /// Cancels the work of an attempt whose lease is no longer ours. Its
    /// fenced completion would fail anyway; cancelling stops it wasting
    /// effort, and stops it racing the attempt that replaced it. `false`
    /// when the attempt is no longer held: it ended after the heartbeat read
    /// the fences.
    pub fn cancel_lost(&self, fence: Fence) -> bool {
        let held = self.lock();
        let lease = held.get(&fence);
        if let Some(lease) = lease {
            lease.cancel.cancel();
        }
        lease.is_some()
    }

    /// Cancels an attempt whose job an operator asked to cancel, noting who,
    /// so that the runner discards it when its handler stops. `false` when
    /// the attempt is no longer held.
    pub fn request_cancel(&self, fence: Fence, by: &str) -> bool {
        let held = self.lock();
        let Some(lease) = held.get(&fence) else {
            return false;
        };
        let _ = lease.cancel_requested.set(by.to_owned());
        lease.cancel.cancel();
        true
    }

    /// Cancels every attempt whose lease may run out before `next_check`:
    /// once the lease expires, the rescuer can hand the job to someone else,
    /// and this process can no longer prove it owns it. Returns the fences
    /// newly cancelled.
    pub fn cancel_lapsing(&self, next_check: Instant) -> Vec<Fence> {
        self.lock()
            .iter()
            .filter(|(_, lease)| lease.ours_until <= next_check && !lease.cancel.is_cancelled())
            .map(|(fence, lease)| {
                lease.cancel.cancel();
                *fence
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Fence, Lease>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(30);

    fn fence(id: i64, claim: i64) -> Fence {
        Fence {
            id: queue::JobId(id),
            claim,
        }
    }

    #[test]
    fn an_old_attempt_ending_leaves_the_new_attempt_of_the_same_job_held() {
        let held = Held::new(LEASE);
        let now = Instant::now();
        let (old, new) = (CancellationToken::new(), CancellationToken::new());
        // Attempt 1 still runs when the job, rescued, is claimed again here.
        held.insert(fence(7, 1), old.clone(), now);
        held.insert(fence(7, 2), new.clone(), now);
        held.remove(fence(7, 1));
        assert_eq!(
            held.fences(),
            vec![fence(7, 2)],
            "attempt 2 is still renewed"
        );

        held.cancel_lost(fence(7, 1));
        assert!(!new.is_cancelled(), "a lost attempt 1 cancels only itself");
        held.cancel_lost(fence(7, 2));
        assert!(new.is_cancelled());
    }

    #[test]
    fn fences_come_in_id_order_whatever_the_claim_order() {
        let held = Held::new(LEASE);
        let now = Instant::now();
        for id in [9, 3, 5, 1] {
            held.insert(fence(id, 1), CancellationToken::new(), now);
        }
        let ids: Vec<i64> = held.fences().iter().map(|f| f.id.0).collect();
        assert_eq!(ids, vec![1, 3, 5, 9]);
    }

    #[test]
    fn work_is_cancelled_once_its_lease_may_lapse_before_the_next_check_and_not_before() {
        let held = Held::new(LEASE);
        let start = Instant::now();
        let (renewed, stale) = (CancellationToken::new(), CancellationToken::new());
        held.insert(fence(1, 1), renewed.clone(), start);
        held.insert(fence(2, 1), stale.clone(), start);
        held.renewed(&[fence(1, 1)], start + Duration::from_secs(20));

        assert!(
            held.cancel_lapsing(start + LEASE - Duration::from_millis(1))
                .is_empty()
        );
        assert_eq!(held.cancel_lapsing(start + LEASE), vec![fence(2, 1)]);
        assert!(stale.is_cancelled());
        assert!(!renewed.is_cancelled(), "its renewal moved it 20s on");
        assert!(
            held.cancel_lapsing(start + LEASE).is_empty(),
            "each is reported once"
        );
    }
}
