//! Where a rollout's latency tail comes from: the requests due in the
//! seconds after each pod start, each endpoint added or removed and each
//! SIGTERM. A tail that follows the new pods' starts is theirs (cold
//! connections, start-up CPU next to the serving pods); one that follows
//! removals or SIGTERMs is the old pods' drain or the proxy's.

use serde::Serialize;

use crate::load::record::{Op, Record};
use crate::timeline::{PodEvent, PodEventKind};
use crate::verdict::{Latency, latency_histogram, record_micros};

/// How long after an event its requests count as after it.
pub const AFTER_EVENT_MS: f64 = 2000.0;

/// The events a tail is looked for after, by their report name.
const KINDS: [(PodEventKind, &str); 4] = [
    (PodEventKind::Started, "started"),
    (PodEventKind::EndpointAdded, "endpoint_added"),
    (PodEventKind::EndpointRemoved, "endpoint_removed"),
    (PodEventKind::Sigterm, "sigterm"),
];

/// The requests due within [`AFTER_EVENT_MS`] of one event.
#[derive(Debug, Clone, Serialize)]
pub struct AfterEvent {
    pub pod: String,
    pub event: &'static str,
    pub at_ms: f64,
    pub latency: Latency,
}

/// The same, over every event of a kind: a request after two events counts
/// once.
#[derive(Debug, Clone, Serialize)]
pub struct AfterKind {
    pub event: &'static str,
    pub events: usize,
    pub latency: Latency,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Tail {
    pub window_ms: f64,
    /// One row per kind that had requests after it.
    pub by_kind: Vec<AfterKind>,
    /// One row per event that had requests after it, in time order.
    pub events: Vec<AfterEvent>,
}

/// Latency from due time of the open-loop requests after each event.
pub fn after_events(records: &[Record], events: &[PodEvent]) -> Tail {
    let open_loop: Vec<&Record> = records.iter().filter(|r| r.op != Op::Watch).collect();
    let after = |at_ms: f64| {
        move |record: &&&Record| at_ms <= record.at_ms && record.at_ms < at_ms + AFTER_EVENT_MS
    };
    let latency_of = |records: &mut dyn Iterator<Item = &&Record>| {
        let mut histogram = latency_histogram();
        for record in records {
            record_micros(&mut histogram, record.latency_us);
        }
        (!histogram.is_empty()).then(|| Latency::of(&histogram))
    };
    let mut tail = Tail {
        window_ms: AFTER_EVENT_MS,
        ..Tail::default()
    };
    for (kind, name) in KINDS {
        let of_kind: Vec<&PodEvent> = events.iter().filter(|e| e.kind == kind).collect();
        for event in &of_kind {
            if let Some(latency) = latency_of(&mut open_loop.iter().filter(after(event.at_ms))) {
                tail.events.push(AfterEvent {
                    pod: event.pod.clone(),
                    event: name,
                    at_ms: event.at_ms,
                    latency,
                });
            }
        }
        let mut after_any = open_loop
            .iter()
            .filter(|record| of_kind.iter().any(|e| after(e.at_ms)(record)));
        if let Some(latency) = latency_of(&mut after_any) {
            tail.by_kind.push(AfterKind {
                event: name,
                events: of_kind.len(),
                latency,
            });
        }
    }
    tail.events.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    tail
}
