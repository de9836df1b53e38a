//! The arithmetic of the verdict: counts by class, latency in steady state
//! and during rollouts, and the rule that decides pass or fail.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::db::DbCheck;
use crate::generator::{Generator, LATE_AFTER_MS};
use crate::load::record::{Op, Outcome, Record};
use crate::long_jobs::LongJobs;
use crate::ticks::Ticks;
use crate::timeline::Window;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Failures {
    pub refused: u64,
    pub reset: u64,
    pub server_error: u64,
    pub timeout: u64,
    pub unexpected: u64,
}

impl Failures {
    pub fn total(&self) -> u64 {
        self.refused + self.reset + self.server_error + self.timeout + self.unexpected
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok => {}
            Outcome::Refused => self.refused += 1,
            Outcome::Reset => self.reset += 1,
            Outcome::ServerError => self.server_error += 1,
            Outcome::Timeout => self.timeout += 1,
            Outcome::Unexpected => self.unexpected += 1,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub requests: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            requests: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        }
    }
}

/// The requests' side of the verdict.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub requests_total: u64,
    pub requests_succeeded: u64,
    pub requests_failed: u64,
    pub failures: Failures,
    pub creates: u64,
    pub reads: u64,
    pub watches: u64,
    /// Creates retried (with the same key) after a connection failure.
    pub creates_retried: u64,
    pub steady: Latency,
    /// `None` when no request was due inside a rollout window (external
    /// mode sees no rollouts): an empty histogram's zeros would read as
    /// measured.
    pub rollout: Option<Latency>,
    /// The same requests from when each was sent: without the drill's own
    /// lag.
    pub steady_from_send: Latency,
    pub rollout_from_send: Option<Latency>,
    pub generator: Generator,
}

/// Latency from due time and from sending, for one class of requests.
#[derive(Debug)]
struct Split {
    from_due: Histogram<u64>,
    from_send: Histogram<u64>,
}

impl Split {
    fn new() -> Self {
        Self {
            from_due: latency_histogram(),
            from_send: latency_histogram(),
        }
    }

    fn record(&mut self, record: &Record) {
        record_micros(&mut self.from_due, record.latency_us);
        record_micros(
            &mut self.from_send,
            record.latency_us.saturating_sub(record.lag_us),
        );
    }

    fn latencies(&self) -> Option<(Latency, Latency)> {
        (!self.from_due.is_empty())
            .then(|| (Latency::of(&self.from_due), Latency::of(&self.from_send)))
    }
}

/// A histogram from 1 µs to an hour at 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds are valid")
}

/// Records `micros` into a [`latency_histogram`]: a 0 counts as its lowest
/// value, 1 µs, and anything past an hour as an hour.
pub fn record_micros(histogram: &mut Histogram<u64>, micros: u64) {
    histogram.saturating_record(micros.max(1));
}

/// Counts every record; latency only for the open-loop requests (creates
/// and reads), split by whether they were due inside a rollout window. A
/// watch's duration is how long the order took, not a latency.
pub fn tally(records: &[Record], windows: &[Window]) -> Tally {
    let mut tally = Tally::default();
    let (mut steady, mut rollout) = (Split::new(), Split::new());
    let mut lag = latency_histogram();
    let mut late_requests = 0;
    for record in records {
        tally.requests_total += 1;
        tally.failures.count(record.outcome);
        match record.op {
            Op::Create => tally.creates += 1,
            Op::Read => tally.reads += 1,
            Op::Watch => tally.watches += 1,
        }
        if record.retries > 0 {
            tally.creates_retried += 1;
        }
        if record.op == Op::Watch {
            continue;
        }
        let split = if windows.iter().any(|window| window.contains(record.at_ms)) {
            &mut rollout
        } else {
            &mut steady
        };
        split.record(record);
        record_micros(&mut lag, record.lag_us);
        if record.lag_us as f64 > LATE_AFTER_MS * 1000.0 {
            late_requests += 1;
        }
    }
    tally.requests_failed = tally.failures.total();
    tally.requests_succeeded = tally.requests_total - tally.requests_failed;
    (tally.steady, tally.steady_from_send) = steady.latencies().unwrap_or_default();
    (tally.rollout, tally.rollout_from_send) = rollout.latencies().unzip();
    tally.generator = Generator::new(Latency::of(&lag), late_requests);
    tally
}

/// Everything the verdict weighs.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub tally: Tally,
    pub orders_acknowledged: u64,
    pub db: DbCheck,
    pub queue_drained: bool,
    /// `None` where the drill sees no pods (external mode).
    pub pods_sigkilled: Option<u64>,
    /// Pods whose exit code was not 0: their shutdown overran or failed.
    /// `None` where that is not judged: no pods seen, or the negative
    /// control, whose pods exit non-zero on purpose.
    pub pods_exited_nonzero: Option<u64>,
    /// Rollouts (numbered from 1) still running when the load ended: part of
    /// them went unloaded, so the run proves less than it seems to.
    pub rollouts_outlasting_load: Vec<u32>,
    /// `None` when the run started no long job.
    pub long_jobs: Option<LongJobs>,
    /// `None` when ticks were not judged (`--schedule-period 0s`).
    pub ticks: Option<Ticks>,
}

impl Evidence {
    /// Acknowledged to a client, absent from the database.
    pub fn orders_lost(&self) -> u64 {
        self.orders_acknowledged
            .saturating_sub(self.db.orders_present)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub pass: bool,
    /// Why it failed, one line each; empty on a pass.
    pub reasons: Vec<String>,
    /// What the reader must know to read the figures, pass or fail: that
    /// the drill itself fell behind.
    pub notes: Vec<String>,
}

/// Passes only with no failed request, no lost order, every order fulfilled
/// exactly once, no job left behind, every long job completed with each
/// step's effect once and none rescued, no pod SIGKILLed or exiting
/// non-zero and every rollout under load. A run that sent nothing proves nothing, so
/// it fails too.
pub fn judge(evidence: &Evidence) -> Verdict {
    let mut reasons = Vec::new();
    let tally = &evidence.tally;
    if tally.requests_total == 0 {
        reasons.push("no requests were sent".to_owned());
    }
    if tally.requests_failed > 0 {
        let f = tally.failures;
        reasons.push(format!(
            "{} requests failed (refused {}, reset {}, 5xx {}, timeout {}, unexpected {})",
            tally.requests_failed, f.refused, f.reset, f.server_error, f.timeout, f.unexpected
        ));
    }
    let lost = evidence.orders_lost();
    if lost > 0 {
        reasons.push(format!(
            "{lost} acknowledged orders are not in the database"
        ));
    }
    if evidence.db.orders_bad_fulfil_count > 0 {
        reasons.push(format!(
            "{} orders were not fulfilled exactly once",
            evidence.db.orders_bad_fulfil_count
        ));
    }
    if !evidence.queue_drained || evidence.db.jobs_stuck > 0 {
        reasons.push(format!(
            "the queue did not drain: {} jobs stuck{}",
            evidence.db.jobs_stuck,
            waiting_by_kind(&evidence.db)
        ));
    }
    if evidence.db.jobs_discarded > 0 {
        reasons.push(format!(
            "{} jobs were discarded",
            evidence.db.jobs_discarded
        ));
    }
    if evidence.db.receipts_bad_count > 0 {
        reasons.push(format!(
            "{} receipts were not sent exactly once",
            evidence.db.receipts_bad_count
        ));
    }
    if let Some(sigkilled @ 1..) = evidence.pods_sigkilled {
        reasons.push(format!("{sigkilled} pods were SIGKILLed"));
    }
    if let Some(nonzero @ 1..) = evidence.pods_exited_nonzero {
        reasons.push(format!(
            "{nonzero} pods exited non-zero: their shutdown overran or failed"
        ));
    }
    if let Some(long) = &evidence.long_jobs {
        reasons.extend(crate::long_jobs::reasons(long));
    }
    if let Some(ticks) = &evidence.ticks {
        reasons.extend(crate::ticks::reasons(ticks));
    }
    for rollout in &evidence.rollouts_outlasting_load {
        reasons.push(format!(
            "rollout {rollout} ended after the load: lengthen --duration"
        ));
    }
    Verdict {
        pass: reasons.is_empty(),
        reasons,
        notes: tally.generator.note().into_iter().collect(),
    }
}

/// ` (send_receipt: 120 waiting, 0 running)` for each kind with jobs left,
/// so a kind that no worker runs reads as waiting, not as lost.
fn waiting_by_kind(db: &DbCheck) -> String {
    let left: Vec<String> = db
        .jobs_by_kind
        .iter()
        .filter_map(|(kind, states)| {
            let waiting = states.get("available").copied().unwrap_or(0);
            let running = states.get("running").copied().unwrap_or(0);
            (waiting + running > 0).then(|| format!("{kind}: {waiting} waiting, {running} running"))
        })
        .collect();
    if left.is_empty() {
        String::new()
    } else {
        format!(" ({})", left.join("; "))
    }
}
