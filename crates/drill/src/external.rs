//! `drill load`: the same load and verdict against a real deployment. The
//! user rolls it (`kubectl rollout restart deployment/api`) while this runs;
//! the drill sees no pods, so the report has no pod events, no SIGKILL count
//! and no rollout latency.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use sqlx::postgres::PgPoolOptions;

use crate::cli::ExternalArgs;
use crate::finish::{self, RunFacts};
use crate::load;
use crate::load::record::Recorder;
use crate::local::key_prefix;
use crate::progress::Progress;
use crate::report::Context;
use crate::timeline::Timeline;

/// Returns whether the verdict passed.
pub async fn run(args: ExternalArgs) -> anyhow::Result<bool> {
    let out = args.load.out.clone();
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&args.load.database_url)
        .await
        .context("cannot connect to DATABASE_URL")?;
    let key_prefix = key_prefix();
    let timeline = Timeline::new(Instant::now());
    let recorder = Arc::new(Recorder::default());
    let progress = Progress::start(args.load.duration, timeline.clone(), recorder.clone(), None);
    let config = args.load.load_config(&key_prefix);
    let target = args.target.trim_end_matches('/').to_owned();
    load::run(target.clone(), config, timeline.clone(), recorder.clone()).await?;
    progress.finish();

    let queue_drained =
        finish::wait_for_queue(&pool, &key_prefix, args.load.queue_drain_timeout).await?;
    let mut settings = args.load.settings();
    settings["target"] = target.into();
    let facts = RunFacts {
        key_prefix,
        queue_drained,
        load_seconds: args.load.duration.as_secs_f64(),
        pods_sigkilled: None,
        pods_exited_nonzero: None,
        rollouts_outlasting_load: Vec::new(),
        rollouts: 0,
        tick_window: None,
        context: Context {
            mode: "external".to_owned(),
            settings,
            rate_target: args.load.rate,
            ..Context::default()
        },
    };
    finish::judge_and_report(&pool, &recorder, &timeline, facts, &out).await
}
