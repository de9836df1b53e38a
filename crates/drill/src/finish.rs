//! The end of every run, local or external: read the database, judge, and
//! write the report, the chart and the summary.

use std::path::Path;
use std::time::Duration;

use sqlx::PgPool;

use crate::chart;
use crate::db;
use crate::load::record::Recorder;
use crate::long_jobs::{self, LongJobs};
use crate::report::{Context, Report};
use crate::requests_file;
use crate::tail;
use crate::ticks;
use crate::timeline::Timeline;
use crate::verdict::{self, Evidence};

/// What a run hands to the verdict besides the recorder and the timeline.
#[derive(Debug)]
pub struct RunFacts {
    pub key_prefix: String,
    pub queue_drained: bool,
    pub load_seconds: f64,
    pub pods_sigkilled: Option<u64>,
    pub pods_exited_nonzero: Option<u64>,
    pub rollouts_outlasting_load: Vec<u32>,
    /// Rollouts the run's long jobs ran through (none in external mode).
    pub rollouts: u32,
    /// The load's start and end on the database's clock, and the example
    /// schedule's period: its ticks in between are judged. `None`: not.
    pub tick_window: Option<(String, String, Duration)>,
    pub context: Context,
}

/// Waits for the queue; logs what it waits for, since it can take a while.
pub async fn wait_for_queue(
    pool: &PgPool,
    key_prefix: &str,
    within: Duration,
) -> anyhow::Result<bool> {
    eprintln!(
        "drill: load done, waiting up to {} for the queue to drain",
        humantime::format_duration(within)
    );
    let drained = db::wait_for_queue_drain(pool, key_prefix, within).await?;
    if !drained {
        eprintln!("drill: the queue did not drain in time");
    }
    Ok(drained)
}

/// Judges the run, writes `report.json`, `requests.csv` and `timeline.svg`
/// into `out`, and prints the summary. Returns whether it passed.
pub async fn judge_and_report(
    pool: &PgPool,
    recorder: &Recorder,
    timeline: &Timeline,
    facts: RunFacts,
    out: &Path,
) -> anyhow::Result<bool> {
    let acknowledged = recorder.acknowledged();
    let records = recorder.records();
    let windows = timeline.windows();
    let evidence = Evidence {
        tally: verdict::tally(&records, &windows),
        orders_acknowledged: acknowledged.len() as u64,
        db: db::check(pool, &facts.key_prefix, &acknowledged).await?,
        queue_drained: facts.queue_drained,
        pods_sigkilled: facts.pods_sigkilled,
        pods_exited_nonzero: facts.pods_exited_nonzero,
        rollouts_outlasting_load: facts.rollouts_outlasting_load,
        long_jobs: long_jobs::check(pool, &facts.key_prefix)
            .await?
            .map(|long| LongJobs {
                rollouts: facts.rollouts,
                ..long
            }),
        ticks: match &facts.tick_window {
            Some((from, until, period)) => ticks::check(pool, from, until, *period).await?,
            None => None,
        },
    };
    let judged = verdict::judge(&evidence);
    let mut context = facts.context;
    context.load_seconds = facts.load_seconds;
    context.watch_reconnects = recorder.reconnects();
    context.failure_samples = recorder.failure_samples();
    context.seconds = chart::per_second(&records);
    context.pod_events = timeline.events();
    context.tail = tail::after_events(&records, &context.pod_events);
    context.rollout_windows = windows;
    let report = Report::new(&evidence, &judged, context);

    let report_path = out.join("report.json");
    report.write(&report_path)?;
    let requests_path = out.join("requests.csv");
    requests_file::write(&requests_path, &records)?;
    let chart_path = out.join("timeline.svg");
    let title = format!(
        "rolling-restart drill ({}): {}",
        report.mode,
        report.verdict.to_uppercase()
    );
    chart::draw(
        &chart_path,
        &title,
        &report.seconds,
        &report.pod_events,
        &report.rollout_windows,
        report
            .cpu
            .as_ref()
            .map_or(&[], |cpu| cpu.seconds.as_slice()),
    )?;
    println!("{}", report.summary());
    println!(
        "  report:   {}\n  requests: {}\n  chart:    {}",
        report_path.display(),
        requests_path.display(),
        chart_path.display()
    );
    Ok(judged.pass)
}
