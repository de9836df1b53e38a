//! The progress bar: elapsed load time, with the live counts beside it.
//! Hidden when stderr is not a terminal or under CI, where it would only
//! litter the log.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

use crate::load::record::Recorder;
use crate::proxy::Endpoints;
use crate::timeline::Timeline;

const REFRESH: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    ticker: JoinHandle<()>,
}

impl Progress {
    /// Shows the load's progress until `finish`; `endpoints`, when given,
    /// adds the Service's ready endpoints.
    pub fn start(
        load: Duration,
        timeline: Timeline,
        recorder: Arc<Recorder>,
        endpoints: Option<Endpoints>,
    ) -> Self {
        let bar = ProgressBar::new(load.as_secs().max(1));
        let ci = std::env::var("CI").is_ok_and(|ci| ci == "true");
        if ci || !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len}s {msg}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        let shown = bar.clone();
        let start = tokio::time::Instant::now();
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH);
            loop {
                tick.tick().await;
                shown.set_position(start.elapsed().as_secs());
                let endpoints = endpoints
                    .as_ref()
                    .map(|e| format!(" endpoints {}", e.ready().len()))
                    .unwrap_or_default();
                shown.set_message(format!(
                    "sent {} failed {} orders {}{endpoints} pod events {}",
                    recorder.sent(),
                    recorder.failed(),
                    recorder.acknowledged_count(),
                    timeline.events().len(),
                ));
            }
        });
        Self { bar, ticker }
    }

    /// A line on stderr that does not tear the bar.
    pub fn note(&self, message: &str) {
        self.bar.suspend(|| eprintln!("{message}"));
    }

    pub fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}
