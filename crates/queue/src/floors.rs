//! Where each kind's last claim ended, so that a worker draining a backlog
//! does not walk again over the jobs it has just claimed.
//!
//! A claimed job's entry stays in the claim index, dead, until VACUUM removes
//! it, and a walk from the start of a kind steps over every such entry: with
//! 450 000 jobs claimed since the last VACUUM, one claim took three times as
//! long. A walk that starts where the previous one ended steps over only
//! what other workers claimed in between.
//!
//! A floor can also hide a job: one that sorts before it but became runnable
//! after it was set (a higher priority, a rescued job keeping its old
//! `run_at`, an enqueue whose transaction began before the claim and
//! committed after it). So a floor lives only as long as back-to-back claims
//! keep finding a full batch, and never longer than `full_walk_every`; the
//! next claim after that walks every kind from its start. The worker passes
//! its poll interval, the delay it already accepts for a job whose NOTIFY
//! was missed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// A position in one kind's claim order (`priority, run_at, id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ClaimKey {
    pub(crate) priority: i16,
    pub(crate) run_at: OffsetDateTime,
    pub(crate) id: i64,
}

/// One claimer's floors, one per kind; see the module's documentation.
#[derive(Debug, Clone)]
pub struct ClaimFloors {
    by_kind: HashMap<String, ClaimKey>,
    full_walk_every: Duration,
    last_full_walk: Option<Instant>,
}

impl ClaimFloors {
    pub fn new(full_walk_every: Duration) -> Self {
        Self {
            by_kind: HashMap::new(),
            full_walk_every,
            last_full_walk: None,
        }
    }

    /// Each kind's floor for the next claim, `None` for a walk from the
    /// start; every kind walks from its start when a full walk is due.
    pub(crate) fn for_claim<'k>(
        &mut self,
        kinds: &'k [String],
    ) -> Vec<(&'k str, Option<ClaimKey>)> {
        let full_walk_due = self
            .last_full_walk
            .is_none_or(|at| at.elapsed() >= self.full_walk_every);
        if full_walk_due {
            self.by_kind.clear();
            self.last_full_walk = Some(Instant::now());
        }
        kinds
            .iter()
            .map(|kind| (kind.as_str(), self.by_kind.get(kind).copied()))
            .collect()
    }

    /// Moves each kind's floor to the last job claimed of it. A claim that
    /// found fewer jobs than it asked for has reached the end of what is
    /// runnable: the next one walks from the start.
    pub(crate) fn advance(
        &mut self,
        asked: u32,
        claimed: impl IntoIterator<Item = (String, ClaimKey)>,
    ) {
        let mut found = 0;
        for (kind, key) in claimed {
            found += 1;
            let floor = self.by_kind.entry(kind).or_insert(key);
            *floor = (*floor).max(key);
        }
        if found < asked {
            self.forget();
        }
    }

    /// The next claim walks every kind from its start.
    pub fn forget(&mut self) {
        self.by_kind.clear();
        self.last_full_walk = None;
    }
}
