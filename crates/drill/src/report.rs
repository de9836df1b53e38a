//! `report.json` and the summary table. The top-level field names are
//! promised to CI and to users' scripts; add fields, never rename them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::chart::Second;
use crate::cpu::Cpu;
use crate::db::DbCheck;
use crate::generator::Generator;
use crate::load::record::FailureSample;
use crate::long_jobs::LongJobs;
use crate::pod::PodExit;
use crate::proxy::ProxyStats;
use crate::tail::Tail;
use crate::ticks::Ticks;
use crate::timeline::{PodEvent, Window};
use crate::verdict::{Evidence, Failures, Latency, Verdict};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mode: String,
    pub verdict: &'static str,
    pub reasons: Vec<String>,
    /// What the figures mean on this run, pass or fail: that the drill
    /// itself fell behind.
    pub notes: Vec<String>,
    pub requests_total: u64,
    pub requests_succeeded: u64,
    pub requests_failed: u64,
    pub failures: Failures,
    /// The first failures in full.
    pub failure_samples: Vec<FailureSample>,
    pub creates: u64,
    pub reads: u64,
    pub watches: u64,
    pub creates_retried: u64,
    pub watch_reconnects: u64,
    pub rate_target: f64,
    pub rate_achieved: f64,
    pub orders_acknowledged: u64,
    pub orders_present: u64,
    pub orders_lost: u64,
    pub orders_bad_fulfil_count: u64,
    pub jobs_stuck: u64,
    pub jobs_discarded: u64,
    /// Jobs a worker could not decode: in an upgrade that changes a payload,
    /// release N meeting release N+1's jobs.
    pub jobs_undecodable: u64,
    /// The run's jobs by kind, then state: in an upgrade, whether the new
    /// release's kind ran, or waits for a worker that knows it.
    pub jobs_by_kind: BTreeMap<String, BTreeMap<String, u64>>,
    pub receipts_bad_count: u64,
    /// Null when the run started no long job.
    pub long_jobs: Option<LongJobs>,
    /// The example schedule's ticks due during the load; null when not
    /// judged.
    pub ticks: Option<Ticks>,
    pub queue_drained: bool,
    /// Null, not 0, where the drill sees no pods (external mode): a zero
    /// would read as checked.
    pub pods_sigkilled: Option<u64>,
    pub p50_steady_ms: f64,
    pub p99_steady_ms: f64,
    pub max_steady_ms: f64,
    /// The rollout latencies are null when no request was due inside a
    /// rollout window, for the same reason.
    pub p50_rollout_ms: Option<f64>,
    pub p99_rollout_ms: Option<f64>,
    pub max_rollout_ms: Option<f64>,
    pub latency_steady: Latency,
    pub latency_rollout: Option<Latency>,
    /// The same requests from when the drill sent them, its own lag left
    /// out.
    pub latency_steady_from_send: Latency,
    pub latency_rollout_from_send: Option<Latency>,
    /// The drill's own lag against its schedule.
    pub generator: Generator,
    /// Latency in the seconds after each pod event (local mode).
    pub tail: Tail,
    /// How busy the machine and the drill were during the load (local mode
    /// on Linux; null elsewhere).
    pub cpu: Option<Cpu>,
    pub settings: serde_json::Value,
    pub proxy: Option<ProxyStats>,
    pub pods: Vec<PodExit>,
    pub pod_events: Vec<PodEvent>,
    pub rollout_windows: Vec<Window>,
    pub seconds: Vec<Second>,
}

/// What the run produced besides the evidence.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub mode: String,
    pub settings: serde_json::Value,
    pub rate_target: f64,
    pub load_seconds: f64,
    pub watch_reconnects: u64,
    pub failure_samples: Vec<FailureSample>,
    pub proxy: Option<ProxyStats>,
    pub cpu: Option<Cpu>,
    pub pods: Vec<PodExit>,
    pub pod_events: Vec<PodEvent>,
    pub rollout_windows: Vec<Window>,
    pub seconds: Vec<Second>,
    pub tail: Tail,
}

impl Report {
    pub fn new(evidence: &Evidence, verdict: &Verdict, context: Context) -> Self {
        let tally = &evidence.tally;
        let DbCheck {
            orders_present,
            orders_bad_fulfil_count,
            jobs_stuck,
            jobs_discarded,
            jobs_undecodable,
            receipts_bad_count,
            ..
        } = evidence.db;
        let open_loop = tally.creates + tally.reads;
        Self {
            mode: context.mode,
            verdict: if verdict.pass { "pass" } else { "fail" },
            reasons: verdict.reasons.clone(),
            notes: verdict.notes.clone(),
            requests_total: tally.requests_total,
            requests_succeeded: tally.requests_succeeded,
            requests_failed: tally.requests_failed,
            failures: tally.failures,
            failure_samples: context.failure_samples,
            creates: tally.creates,
            reads: tally.reads,
            watches: tally.watches,
            creates_retried: tally.creates_retried,
            watch_reconnects: context.watch_reconnects,
            rate_target: context.rate_target,
            rate_achieved: if context.load_seconds > 0.0 {
                open_loop as f64 / context.load_seconds
            } else {
                0.0
            },
            orders_acknowledged: evidence.orders_acknowledged,
            orders_present,
            orders_lost: evidence.orders_lost(),
            orders_bad_fulfil_count,
            jobs_stuck,
            jobs_discarded,
            jobs_undecodable,
            jobs_by_kind: evidence.db.jobs_by_kind.clone(),
            receipts_bad_count,
            long_jobs: evidence.long_jobs.clone(),
            ticks: evidence.ticks.clone(),
            queue_drained: evidence.queue_drained,
            pods_sigkilled: evidence.pods_sigkilled,
            p50_steady_ms: tally.steady.p50_ms,
            p99_steady_ms: tally.steady.p99_ms,
            max_steady_ms: tally.steady.max_ms,
            p50_rollout_ms: tally.rollout.map(|l| l.p50_ms),
            p99_rollout_ms: tally.rollout.map(|l| l.p99_ms),
            max_rollout_ms: tally.rollout.map(|l| l.max_ms),
            latency_steady: tally.steady,
            latency_rollout: tally.rollout,
            latency_steady_from_send: tally.steady_from_send,
            latency_rollout_from_send: tally.rollout_from_send,
            generator: tally.generator,
            tail: context.tail,
            cpu: context.cpu,
            settings: context.settings,
            proxy: context.proxy,
            pods: context.pods,
            pod_events: context.pod_events,
            rollout_windows: context.rollout_windows,
            seconds: context.seconds,
        }
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }

    /// The summary table. Two aligned columns need no table library.
    pub fn summary(&self) -> String {
        let f = &self.failures;
        let pods_unclean = self.pods.iter().filter(|p| p.code != Some(0)).count();
        let (pods_stopped, pods_unclean) = match self.pods_sigkilled {
            Some(sigkilled) => (
                format!("{} / {sigkilled}", self.pods.len()),
                pods_unclean.to_string(),
            ),
            None => (NOT_MEASURED.to_owned(), NOT_MEASURED.to_owned()),
        };
        let rows: Vec<(&str, String)> = vec![
            ("mode", self.mode.clone()),
            ("requests sent", self.requests_total.to_string()),
            (
                "  creates / reads / watches",
                format!("{} / {} / {}", self.creates, self.reads, self.watches),
            ),
            (
                "  rate target / achieved",
                format!("{:.0}/s / {:.1}/s", self.rate_target, self.rate_achieved),
            ),
            ("requests succeeded", self.requests_succeeded.to_string()),
            ("requests failed", self.requests_failed.to_string()),
            ("  refused / reset", format!("{} / {}", f.refused, f.reset)),
            (
                "  5xx / timeout / unexpected",
                format!("{} / {} / {}", f.server_error, f.timeout, f.unexpected),
            ),
            (
                "creates retried (same key)",
                self.creates_retried.to_string(),
            ),
            (
                "watch reconnects (retry hint)",
                self.watch_reconnects.to_string(),
            ),
            ("orders acknowledged", self.orders_acknowledged.to_string()),
            ("orders lost", self.orders_lost.to_string()),
            (
                "orders fulfil_count != 1",
                self.orders_bad_fulfil_count.to_string(),
            ),
            (
                "jobs stuck / discarded",
                format!("{} / {}", self.jobs_stuck, self.jobs_discarded),
            ),
            (
                "jobs a worker could not decode",
                self.jobs_undecodable.to_string(),
            ),
            (
                "long jobs done / started",
                self.long_jobs.as_ref().map_or_else(
                    || NOT_MEASURED.to_owned(),
                    |long| format!("{} / {}", long.completed, long.jobs),
                ),
            ),
            (
                "  steps recorded / repeated",
                self.long_jobs.as_ref().map_or_else(
                    || NOT_MEASURED.to_owned(),
                    |long| {
                        format!(
                            "{} of {} / {}",
                            long.steps_recorded, long.steps_expected, long.steps_repeated
                        )
                    },
                ),
            ),
            (
                "  resumptions / rescued",
                self.long_jobs.as_ref().map_or_else(
                    || NOT_MEASURED.to_owned(),
                    |long| format!("{:?} / {}", long.resumptions, long.rescued),
                ),
            ),
            (
                "schedule ticks due / once",
                self.ticks.as_ref().map_or_else(
                    || NOT_MEASURED.to_owned(),
                    |ticks| format!("{} / {}", ticks.expected, ticks.completed),
                ),
            ),
            (
                "  missed / doubled",
                self.ticks.as_ref().map_or_else(
                    || NOT_MEASURED.to_owned(),
                    |ticks| format!("{} / {}", ticks.missed, ticks.doubled),
                ),
            ),
            ("pods stopped / SIGKILLed", pods_stopped),
            ("pods exiting non-zero", pods_unclean),
            ("steady p50 / p99 / max", latency(&self.latency_steady)),
            (
                "rollout p50 / p99 / max",
                self.latency_rollout
                    .as_ref()
                    .map_or_else(|| NOT_MEASURED.to_owned(), latency),
            ),
            (
                "  from sending, steady",
                latency(&self.latency_steady_from_send),
            ),
            (
                "  from sending, rollout",
                self.latency_rollout_from_send
                    .as_ref()
                    .map_or_else(|| NOT_MEASURED.to_owned(), latency),
            ),
            ("drill's own lag", latency(&self.generator.lag)),
            (
                "CPU busy, machine / the drill",
                self.cpu.as_ref().map_or_else(
                    || NOT_MEASURED.to_owned(),
                    |cpu| {
                        format!(
                            "{:.0} % / {:.0} % of all cores (medians of the load's seconds)",
                            cpu.machine_busy_median * 100.0,
                            cpu.drill_busy_median * 100.0
                        )
                    },
                ),
            ),
        ];
        let after: Vec<(String, String)> = self
            .tail
            .by_kind
            .iter()
            .map(|kind| {
                (
                    format!("{:.0} s after {}", self.tail.window_ms / 1000.0, kind.event),
                    latency(&kind.latency),
                )
            })
            .collect();
        let rows: Vec<(&str, String)> = rows
            .into_iter()
            .chain(
                after
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.clone())),
            )
            .chain([("verdict", self.verdict.to_uppercase())])
            .collect();
        let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (name, value) in rows {
            let _ = writeln!(out, "  {name:<width$}  {value}");
        }
        for reason in &self.reasons {
            let _ = writeln!(out, "  - {reason}");
        }
        for note in &self.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        for sample in self.failure_samples.iter().take(5) {
            let _ = writeln!(
                out,
                "  at {:.1}s {:?} {:?}: {}",
                sample.at_ms / 1000.0,
                sample.op,
                sample.outcome,
                sample.detail
            );
        }
        out
    }
}

/// What the summary shows for a field the report has as null.
const NOT_MEASURED: &str = "n/a";

fn latency(latency: &Latency) -> String {
    format!(
        "{:.1} / {:.1} / {:.1} ms ({} requests)",
        latency.p50_ms, latency.p99_ms, latency.max_ms, latency.requests
    )
}
