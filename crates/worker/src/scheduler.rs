//! The schedules' loop: every pass, each schedule's ticks due since its
//! mark are enqueued once (`queue::schedule::enqueue_due`). Every worker
//! runs it; the schedule's row decides which one enqueues a tick, so a
//! rollout that replaces every worker loses and doubles none.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use queue::schedule::{self, Schedule};
use service::db::bounded;
use sqlx::PgPool;
use tokio::time::{MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;

use crate::config::SchedulerMode;

/// How often each schedule is looked at: a tick is enqueued at most this
/// long after it falls.
pub const PASS_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct Scheduler {
    pub pool: PgPool,
    pub schedules: Vec<Schedule>,
    pub mode: SchedulerMode,
    pub call_bound: Duration,
}

impl Scheduler {
    /// Runs passes until `stop` (stop-intake: a worker that is leaving
    /// enqueues nothing more; the others, or the next, go on from the mark).
    pub async fn run(self, stop: CancellationToken) {
        if self.schedules.is_empty() {
            return;
        }
        let metrics = ScheduleMetrics::new(&self.schedules);
        // `local-timer` only: each process's own idea of its last tick.
        let started = Timestamp::now();
        let mut local_marks: BTreeMap<&str, Timestamp> = self
            .schedules
            .iter()
            .map(|schedule| (schedule.name(), started))
            .collect();
        let mut pass = interval(PASS_INTERVAL);
        pass.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                _ = pass.tick() => {}
            }
            for schedule in &self.schedules {
                let now = Timestamp::now();
                match self.mode {
                    SchedulerMode::Shared => self.shared_pass(schedule, now, &metrics).await,
                    SchedulerMode::LocalTimer => {
                        let mark = local_marks
                            .get_mut(schedule.name())
                            .expect("every schedule");
                        self.local_pass(schedule, mark, now, &metrics).await;
                    }
                }
            }
        }
    }

    async fn shared_pass(&self, schedule: &Schedule, now: Timestamp, metrics: &ScheduleMetrics) {
        let pass = schedule::enqueue_due(&self.pool, schedule, now);
        match bounded(self.call_bound, pass).await {
            Ok(pass) if pass.busy => {}
            Ok(pass) => {
                metrics.passed(
                    schedule.name(),
                    pass.enqueued.len() as u64,
                    pass.last,
                    pass.next,
                );
                if let (Some(first), Some(last)) = (pass.enqueued.first(), pass.enqueued.last()) {
                    tracing::info!(
                        schedule = schedule.name(),
                        ticks = pass.enqueued.len(),
                        first = %first,
                        last = %last,
                        skipped = pass.skipped,
                        "schedule ticks enqueued"
                    );
                }
            }
            Err(error) => tracing::warn!(
                schedule = schedule.name(),
                %error,
                "schedule pass failed; its mark did not move, and the next pass enqueues what is due"
            ),
        }
    }

    /// The negative control (`WORKER_SCHEDULER=local-timer`): every process
    /// fires on its own clock, as a home-made scheduler does, with no
    /// shared mark and no unique key.
    async fn local_pass(
        &self,
        schedule: &Schedule,
        mark: &mut Timestamp,
        now: Timestamp,
        metrics: &ScheduleMetrics,
    ) {
        let ticks = schedule.ticks(*mark, now, 1000);
        let Some(&last) = ticks.last() else {
            return;
        };
        let jobs: Vec<_> = ticks
            .iter()
            .map(|tick| schedule.unkeyed_job(*tick))
            .collect();
        let enqueued = async {
            let mut conn = self.pool.acquire().await?;
            queue::enqueue_many(&mut conn, &jobs).await
        };
        match bounded(self.call_bound, enqueued).await {
            Ok(_) => {
                *mark = last;
                let next = schedule.next_after(last);
                metrics.passed(schedule.name(), ticks.len() as u64, Some(last), next);
            }
            Err(error) => tracing::warn!(schedule = schedule.name(), %error, "local tick failed"),
        }
    }
}

/// Ticks enqueued, each schedule's last tick enqueued, and when its next
/// is due: with the schedule's period, `ScheduleTickLate`
/// (deploy/prometheus/alerts.yml) sees a tick that no worker enqueued in
/// time.
struct ScheduleMetrics {
    ticks: Counter<u64>,
    marks: Marks,
}

/// By schedule, in seconds since the epoch: its last tick and its next.
type Marks = Arc<Mutex<BTreeMap<&'static str, (Option<f64>, Option<f64>)>>>;

impl ScheduleMetrics {
    fn new(schedules: &[Schedule]) -> Self {
        let meter = telemetry::meter("worker");
        let marks: Marks = Arc::default();
        // Each gauge is kept alive by the meter provider for the process's
        // life.
        for (name, description, pick) in [
            (
                "queue.schedule.last_tick",
                "Each schedule's last tick enqueued, in seconds since the epoch",
                (|(last, _)| last) as fn((Option<f64>, Option<f64>)) -> Option<f64>,
            ),
            (
                "queue.schedule.next_tick",
                "When each schedule's next tick is due, in seconds since the epoch",
                |(_, next)| next,
            ),
        ] {
            let seen = marks.clone();
            let _gauge = meter
                .f64_observable_gauge(name)
                .with_unit("s")
                .with_description(description)
                .with_callback(move |gauge| {
                    let marks = seen.lock().unwrap_or_else(|p| p.into_inner());
                    for (schedule, at) in marks.iter() {
                        if let Some(at) = pick(*at) {
                            gauge.observe(at, &[KeyValue::new("schedule", *schedule)]);
                        }
                    }
                })
                .build();
        }
        let periods: Vec<(&'static str, f64)> = schedules
            .iter()
            .filter_map(|schedule| Some((schedule.name(), schedule.period()?.as_secs_f64())))
            .collect();
        let _period = meter
            .f64_observable_gauge("queue.schedule.period")
            .with_unit("s")
            .with_description("Each schedule's time between ticks")
            .with_callback(move |gauge| {
                for (schedule, period) in &periods {
                    gauge.observe(*period, &[KeyValue::new("schedule", *schedule)]);
                }
            })
            .build();
        Self {
            ticks: meter
                .u64_counter("queue.schedule.ticks")
                .with_description("Ticks whose job this worker enqueued, by schedule")
                .build(),
            marks,
        }
    }

    fn passed(
        &self,
        schedule: &'static str,
        enqueued: u64,
        last: Option<Timestamp>,
        next: Option<Timestamp>,
    ) {
        if enqueued > 0 {
            self.ticks
                .add(enqueued, &[KeyValue::new("schedule", schedule)]);
        }
        let seconds = |at: Timestamp| at.as_millisecond() as f64 / 1000.0;
        self.marks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(schedule, (last.map(seconds), next.map(seconds)));
    }
}
