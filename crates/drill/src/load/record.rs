//! Every request's outcome, latency and due time, kept for the verdict and
//! the chart, plus the live counters the progress bar shows.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `POST /v1/orders`.
    Create,
    /// `GET /v1/orders/{id}`.
    Read,
    /// `GET /v1/orders/{id}/events`, until the order is fulfilled.
    Watch,
}

/// How a request ended, in the classes the verdict counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// The connection was refused.
    Refused,
    /// The connection was reset or closed before the response was complete.
    Reset,
    /// A 5xx status.
    ServerError,
    Timeout,
    /// Anything else: an unexpected status, an unreadable body, an event
    /// stream that ended without its final event or a reconnect hint.
    Unexpected,
}

impl Outcome {
    /// The failures a create is retried after. A reset may come after the
    /// server got the request and even stored the order; the retry is safe
    /// because it reuses the Idempotency-Key, so the API answers with that
    /// order instead of creating a second.
    pub fn is_connection_failure(self) -> bool {
        matches!(self, Self::Refused | Self::Reset)
    }
}

/// A failed attempt, with the client's own words for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub outcome: Outcome,
    pub detail: String,
}

impl Failure {
    pub fn new(outcome: Outcome, detail: impl Into<String>) -> Self {
        Self {
            outcome,
            detail: detail.into(),
        }
    }
}

/// One of the first failures, kept whole for the report: the counts say how
/// many, these say what they looked like.
#[derive(Debug, Clone, Serialize)]
pub struct FailureSample {
    pub at_ms: f64,
    pub op: Op,
    pub outcome: Outcome,
    pub detail: String,
}

/// How many failures the report shows in full.
const FAILURE_SAMPLES: usize = 50;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Record {
    /// When the request was due, in ms since the drill started.
    pub at_ms: f64,
    /// From due time to outcome, retries included.
    pub latency_us: u64,
    /// From due time to the moment the request began to be sent: the load
    /// generator's own lag, part of `latency_us` but none of the services'
    /// doing. 0 for watches, which have no due time.
    pub lag_us: u64,
    pub op: Op,
    pub outcome: Outcome,
    pub retries: u8,
}

#[derive(Debug, Default)]
pub struct Recorder {
    records: Mutex<Vec<Record>>,
    failure_samples: Mutex<Vec<FailureSample>>,
    acknowledged: Mutex<Vec<Uuid>>,
    sent: AtomicU64,
    failed: AtomicU64,
    reconnects: AtomicU64,
}

impl Recorder {
    /// Records a request's final outcome; `failure` says why it failed.
    pub fn record(&self, record: Record, failure: Option<&Failure>) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if record.outcome != Outcome::Ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let mut samples = self.failure_samples.lock().unwrap();
            if samples.len() < FAILURE_SAMPLES {
                samples.push(FailureSample {
                    at_ms: record.at_ms,
                    op: record.op,
                    outcome: record.outcome,
                    detail: failure.map(|f| f.detail.clone()).unwrap_or_default(),
                });
            }
        }
        self.records.lock().unwrap().push(record);
    }

    pub fn failure_samples(&self) -> Vec<FailureSample> {
        self.failure_samples.lock().unwrap().clone()
    }

    /// An order the API answered 201 or 200 for: it must exist from now on.
    pub fn acknowledge(&self, order: Uuid) {
        self.acknowledged.lock().unwrap().push(order);
    }

    /// An event stream ended with a `retry:` hint and was reopened.
    pub fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub fn random_order(&self) -> Option<Uuid> {
        let acknowledged = self.acknowledged.lock().unwrap();
        if acknowledged.is_empty() {
            return None;
        }
        Some(acknowledged[rand::rng().random_range(0..acknowledged.len())])
    }

    pub fn latest_order(&self) -> Option<Uuid> {
        self.acknowledged.lock().unwrap().last().copied()
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    pub fn acknowledged_count(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    pub fn acknowledged(&self) -> Vec<Uuid> {
        self.acknowledged.lock().unwrap().clone()
    }

    pub fn records(&self) -> Vec<Record> {
        self.records.lock().unwrap().clone()
    }
}
