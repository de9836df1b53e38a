//! The worker's instruments: jobs claimed, running, rescued, how they end
//! and how long they take, and the
//! queue as a whole (depth by state, runnable jobs and the oldest one's age
//! by kind),
//! sampled on an interval because an observable gauge cannot query
//! PostgreSQL from inside its callback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, UpDownCounter};
use queue::QueueStats;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::tally::Ending;

/// Seconds, from a fast job to one that runs for minutes. The SDK's default
/// bounds (0 to 10 000) are meant for milliseconds and would put almost every
/// job into the first bucket.
const JOB_DURATION_BOUNDS: [f64; 18] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

/// Seconds: a healthy claim takes a fraction of a millisecond; one that
/// reads the backlog takes tens of them, and a stuck one hits the call bound.
const CLAIM_DURATION_BOUNDS: [f64; 15] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0,
];

#[derive(Debug, Clone)]
pub struct JobMetrics {
    claim_duration: Histogram<f64>,
    claimed: Counter<u64>,
    in_flight: UpDownCounter<i64>,
    ended: Counter<u64>,
    duration: Histogram<f64>,
    rescued: Counter<u64>,
    undecodable: Counter<u64>,
    swept: Counter<u64>,
    step_duration: Histogram<f64>,
    slow_steps: Counter<u64>,
}

impl Default for JobMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl JobMetrics {
    pub fn new() -> Self {
        let meter = telemetry::meter("worker");
        Self {
            claim_duration: meter
                .f64_histogram("queue.claim.duration")
                .with_unit("s")
                .with_description("Time one claim statement takes, answered or not")
                .with_boundaries(CLAIM_DURATION_BOUNDS.to_vec())
                .build(),
            claimed: meter
                .u64_counter("queue.jobs.claimed")
                .with_description("Jobs claimed by this worker")
                .build(),
            in_flight: meter
                .i64_up_down_counter("queue.jobs.in_flight")
                .with_description("Jobs running in this worker now")
                .build(),
            rescued: meter
                .u64_counter("queue.jobs.rescued")
                .with_description("Expired leases this worker's rescuer handled, by result")
                .build(),
            undecodable: meter
                .u64_counter("queue.jobs.undecodable")
                .with_description(
                    "Jobs handed back because this release cannot decode their payload, by kind",
                )
                .build(),
            swept: meter
                .u64_counter("queue.jobs.swept")
                .with_description("Finished jobs deleted past their retention, by state")
                .build(),
            step_duration: meter
                .f64_histogram("queue.job.step.duration")
                .with_unit("s")
                .with_description("Time one step of a job that works in steps takes, by kind")
                .with_boundaries(JOB_DURATION_BOUNDS.to_vec())
                .build(),
            slow_steps: meter
                .u64_counter("queue.job.steps.slow")
                .with_description(
                    "Steps longer than half the drain budget, by kind: their jobs may be cut at a deploy",
                )
                .build(),
            ended: meter
                .u64_counter("queue.jobs.ended")
                .with_description("Job attempts by how they ended")
                .build(),
            duration: meter
                .f64_histogram("queue.job.duration")
                .with_unit("s")
                .with_description("Time from claim to the end of an attempt")
                .with_boundaries(JOB_DURATION_BOUNDS.to_vec())
                .build(),
        }
    }

    pub fn claimed_in(&self, elapsed: Duration) {
        self.claim_duration.record(elapsed.as_secs_f64(), &[]);
    }

    pub fn started(&self) {
        self.claimed.add(1, &[]);
        self.in_flight.add(1, &[]);
    }

    pub fn rescued(&self, rescued: queue::Rescued) {
        self.rescued.add(
            rescued.made_available,
            &[KeyValue::new("result", "available")],
        );
        self.rescued
            .add(rescued.discarded, &[KeyValue::new("result", "discarded")]);
    }

    pub fn undecodable(&self, kind: &str) {
        self.undecodable
            .add(1, &[KeyValue::new("kind", kind.to_owned())]);
    }

    pub fn step(&self, kind: &str, took: Duration) {
        self.step_duration.record(
            took.as_secs_f64(),
            &[KeyValue::new("kind", kind.to_owned())],
        );
    }

    pub fn slow_step(&self, kind: &str) {
        self.slow_steps
            .add(1, &[KeyValue::new("kind", kind.to_owned())]);
    }

    pub fn swept(&self, swept: queue::Swept) {
        self.swept
            .add(swept.completed, &[KeyValue::new("state", "completed")]);
        self.swept
            .add(swept.discarded, &[KeyValue::new("state", "discarded")]);
    }

    pub fn record(&self, kind: &str, ending: Ending, elapsed: Duration) {
        self.in_flight.add(-1, &[]);
        let attributes = [
            KeyValue::new("kind", kind.to_owned()),
            KeyValue::new("ending", ending.as_str()),
        ];
        self.ended.add(1, &attributes);
        self.duration.record(elapsed.as_secs_f64(), &attributes);
    }
}

/// Samples the queue every `interval` until `stop`, for the gauges.
pub async fn sample_queue(
    pool: PgPool,
    interval: Duration,
    known_kinds: Vec<String>,
    stop: CancellationToken,
) {
    // Finished states are estimates (see `queue::stats`), live ones exact.
    let latest = Arc::new(Mutex::new(QueueStats::default()));
    let meter = telemetry::meter("worker");
    let depth = latest.clone();
    let _depth = meter
        .i64_observable_gauge("queue.jobs")
        .with_description("Jobs in the queue by state")
        .with_callback(move |gauge| {
            let stats = depth.lock().unwrap_or_else(|p| p.into_inner());
            for state in ["available", "running", "completed", "discarded"] {
                let count = stats.depth.get(state).copied().unwrap_or(0);
                gauge.observe(count, &[KeyValue::new("state", state)]);
            }
        })
        .build();
    // Per kind: a kind no worker runs waits on purpose, and must not make
    // the kinds that are served look stuck (deploy/prometheus/alerts.yml).
    let age = latest.clone();
    let _age = meter
        .f64_observable_gauge("queue.oldest_available.age")
        .with_unit("s")
        .with_description("How long the oldest runnable job of each kind has waited")
        .with_callback(move |gauge| {
            let stats = age.lock().unwrap_or_else(|p| p.into_inner());
            for (kind, backlog) in &stats.runnable_by_kind {
                gauge.observe(
                    backlog.oldest_age_secs,
                    &[KeyValue::new("kind", kind.clone())],
                );
            }
        })
        .build();
    let by_kind = latest.clone();
    let _by_kind = meter
        .i64_observable_gauge("queue.kind.available")
        .with_description("Runnable jobs by kind, whether or not any worker knows the kind")
        .with_callback(move |gauge| {
            let stats = by_kind.lock().unwrap_or_else(|p| p.into_inner());
            for (kind, backlog) in &stats.runnable_by_kind {
                gauge.observe(backlog.jobs, &[KeyValue::new("kind", kind.clone())]);
            }
        })
        .build();
    // 1 per kind this worker claims: with `queue.kind.available`, it shows a
    // kind that waits for a release no worker runs yet.
    let _known = meter
        .u64_observable_gauge("worker.kinds")
        .with_description("The job kinds this worker claims, one series each")
        .with_callback(move |gauge| {
            for kind in &known_kinds {
                gauge.observe(1, &[KeyValue::new("kind", kind.clone())]);
            }
        })
        .build();
    loop {
        match service::db::bounded(interval, queue::stats(&pool)).await {
            Ok(stats) => *latest.lock().unwrap_or_else(|p| p.into_inner()) = stats,
            Err(error) => tracing::debug!(%error, "queue sample failed"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
