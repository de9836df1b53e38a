//! The budget arithmetic under tokio's paused clock: every sleep below
//! advances virtual time, so these tests check exact offsets in milliseconds.

use std::time::Duration;

use tokio::time::{Instant, sleep};

use crate::*;

fn config() -> ShutdownConfig {
    ShutdownConfig {
        grace_period: Duration::from_secs(30),
        drain_delay: Duration::from_secs(5),
        flush_timeout: Duration::from_secs(3),
        close_timeout: Duration::from_secs(2),
        margin: Duration::from_secs(2),
        cancel_timeout: Duration::from_secs(1),
    }
}

fn build() -> Shutdown {
    Shutdown::builder(config())
        .without_signals()
        .build()
        .unwrap()
}

fn sleeper(
    d: Duration,
) -> impl FnOnce(HookContext) -> futures::future::BoxFuture<'static, Result<(), HookError>> {
    move |_ctx| {
        Box::pin(async move {
            sleep(d).await;
            Ok(())
        })
    }
}

fn hook(report: &Report, phase: Phase) -> &HookReport {
    &report.phase(phase).unwrap().hooks[0]
}

#[tokio::test(start_paused = true)]
async fn phases_run_in_order_and_a_quick_drain_ends_early() {
    let mut shutdown = build();
    for phase in [
        Phase::StopIntake,
        Phase::Drain,
        Phase::Cancel,
        Phase::Flush,
        Phase::Close,
    ] {
        shutdown.on(phase, phase.as_str(), sleeper(Duration::from_millis(100)));
    }
    shutdown.handle().trigger("test");
    let report = shutdown.run().await;

    let order: Vec<Phase> = report.phases.iter().map(|p| p.phase).collect();
    assert_eq!(order, Phase::ALL);
    let starts: Vec<u64> = report.phases.iter().map(|p| p.start_offset_ms).collect();
    assert_eq!(starts, [0, 0, 5000, 5100, 5200, 5300, 5400]);
    assert_eq!(report.outcome, Overall::Clean);
    assert_eq!(report.elapsed_ms, 5500);
    assert!(report.deadline_met);
}

#[tokio::test(start_paused = true)]
async fn a_stuck_drain_is_cut_at_its_budget_and_flush_and_close_keep_theirs() {
    let mut shutdown = build();
    shutdown.on(Phase::Drain, "stuck", sleeper(Duration::from_secs(3600)));
    shutdown.on(
        Phase::Flush,
        "telemetry",
        sleeper(Duration::from_millis(2900)),
    );
    shutdown.on(Phase::Close, "pool", sleeper(Duration::from_millis(1900)));
    let started = Instant::now();
    shutdown.handle().trigger("test");
    let report = shutdown.run().await;

    let drain = report.phase(Phase::Drain).unwrap();
    assert_eq!(drain.outcome, Outcome::TimedOut);
    assert_eq!(drain.start_offset_ms + drain.elapsed_ms, 5000 + 17_000);
    assert_eq!(hook(&report, Phase::Flush).outcome, Outcome::Done);
    assert_eq!(hook(&report, Phase::Close).outcome, Outcome::Done);
    // A drain that runs out is the design working: cancel takes over.
    assert_eq!(report.outcome, Overall::Clean);
    assert!(started.elapsed() <= Duration::from_secs(28));
}

#[tokio::test(start_paused = true)]
async fn a_flush_that_overruns_is_abandoned_and_the_shutdown_overran() {
    let mut shutdown = build();
    shutdown.on(
        Phase::Flush,
        "dead collector",
        sleeper(Duration::from_secs(3600)),
    );
    shutdown.on(Phase::Close, "pool", sleeper(Duration::from_millis(10)));
    shutdown.handle().trigger("test");
    let report = shutdown.run().await;

    let flush = hook(&report, Phase::Flush);
    assert_eq!(flush.outcome, Outcome::TimedOut);
    assert_eq!(flush.elapsed_ms, 3000);
    assert_eq!(hook(&report, Phase::Close).outcome, Outcome::Done);
    assert_eq!(report.outcome, Overall::Overran);
    assert_eq!(report.exit_code(), 1);
    assert!(report.deadline_met);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_hook_fails_but_later_phases_still_run() {
    let mut shutdown = build();
    shutdown.on(Phase::Drain, "boom", |_ctx| async {
        panic!("hook exploded")
    });
    shutdown.on(Phase::Close, "pool", sleeper(Duration::from_millis(10)));
    shutdown.handle().trigger("test");
    let report = shutdown.run().await;

    let boom = hook(&report, Phase::Drain);
    assert_eq!(boom.outcome, Outcome::Failed);
    assert!(boom.error.as_deref().unwrap().contains("hook exploded"));
    assert_eq!(hook(&report, Phase::Close).outcome, Outcome::Done);
    assert_eq!(report.outcome, Overall::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_skips_delay_and_drain() {
    let mut shutdown = build();
    shutdown.on(Phase::Drain, "stuck", sleeper(Duration::from_secs(3600)));
    shutdown.on(Phase::Cancel, "release", sleeper(Duration::from_millis(10)));
    let shared = shutdown.shared_for_tests();
    shutdown.handle().trigger("test");
    tokio::spawn(async move {
        sleep(Duration::from_secs(1)).await;
        shared.hurry.cancel();
    });
    let report = shutdown.run().await;

    assert_eq!(
        report.phase(Phase::Delay).unwrap().outcome,
        Outcome::Skipped
    );
    assert_eq!(
        report.phase(Phase::Drain).unwrap().outcome,
        Outcome::Skipped
    );
    assert_eq!(hook(&report, Phase::Cancel).start_offset_ms, 1000);
    assert_eq!(report.elapsed_ms, 1010);
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_during_a_stuck_stop_intake_cuts_it_to_the_cancel_window() {
    let mut shutdown = build();
    shutdown.on(
        Phase::StopIntake,
        "stuck listener",
        sleeper(Duration::from_secs(3600)),
    );
    shutdown.on(Phase::Cancel, "release", sleeper(Duration::from_millis(10)));
    let shared = shutdown.shared_for_tests();
    shutdown.handle().trigger("test");
    // The 5 s delay ends, stop-intake starts and hangs; the second signal
    // comes 2 s into it.
    tokio::spawn(async move {
        sleep(Duration::from_secs(7)).await;
        shared.hurry.cancel();
    });
    let report = shutdown.run().await;

    let intake = hook(&report, Phase::StopIntake);
    assert_eq!(intake.outcome, Outcome::TimedOut);
    assert_eq!(intake.start_offset_ms, 5000);
    assert_eq!(
        intake.elapsed_ms, 3000,
        "2 s before the signal, then the 1 s SHUTDOWN_CANCEL_TIMEOUT, not the 17 s drain budget"
    );
    assert_eq!(
        report.phase(Phase::StopIntake).unwrap().budget_ms,
        3000,
        "the report shows the budget the phase had, not the drain's"
    );
    assert_eq!(
        report.phase(Phase::Drain).unwrap().outcome,
        Outcome::Skipped
    );
    assert_eq!(hook(&report, Phase::Cancel).start_offset_ms, 8000);
    assert_eq!(report.outcome, Overall::Overran);
}

#[tokio::test(start_paused = true)]
async fn counts_survive_a_hook_that_is_abandoned() {
    let mut shutdown = build();
    shutdown.on(Phase::Drain, "jobs", |ctx| async move {
        ctx.counts().set("jobs_finished", 7);
        sleep(Duration::from_secs(3600)).await;
        Ok(())
    });
    shutdown.handle().trigger("test");
    let report = shutdown.run().await;
    assert_eq!(hook(&report, Phase::Drain).counts["jobs_finished"], 7);
}

#[tokio::test(start_paused = true)]
async fn counts_kept_by_the_program_land_in_the_report() {
    let mut shutdown = build();
    let counts = Counts::default();
    shutdown.on_counted(Phase::Drain, "jobs", counts.clone(), |_ctx| async move {
        sleep(Duration::from_secs(3600)).await;
        Ok(())
    });
    shutdown.handle().trigger("test");
    counts.add("jobs_finished", 2);
    let report = shutdown.run().await;
    assert_eq!(hook(&report, Phase::Drain).counts["jobs_finished"], 2);
}

#[tokio::test(start_paused = true)]
async fn phase_tokens_fire_as_their_phase_starts() {
    let mut shutdown = build();
    let handle = shutdown.handle();
    let intake = handle.phase_started(Phase::StopIntake);
    let announce = handle.phase_started(Phase::Announce);
    shutdown.on(Phase::Drain, "check", move |_ctx| async move {
        assert!(intake.is_cancelled());
        Ok(())
    });
    handle.trigger("test");
    assert!(
        announce.is_cancelled(),
        "announce is synchronous with the trigger"
    );
    let report = shutdown.run().await;
    assert_eq!(hook(&report, Phase::Drain).outcome, Outcome::Done);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_parent_token_triggers() {
    let parent = tokio_util::sync::CancellationToken::new();
    let shutdown = Shutdown::builder(config())
        .without_signals()
        .parent(parent.clone())
        .build()
        .unwrap();
    parent.cancel();
    let report = shutdown.run().await;
    assert_eq!(report.trigger, "parent cancelled");
}

impl Shutdown {
    fn shared_for_tests(&self) -> std::sync::Arc<crate::trigger::Shared> {
        self.shared.clone()
    }
}

#[tokio::test(start_paused = true)]
async fn observers_see_each_phase_before_the_next_one_starts() {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut shutdown = build();
    let seen_by_flush = seen.clone();
    shutdown.on(Phase::Flush, "telemetry", move |_ctx| async move {
        // What a telemetry flush would export: every phase before this one.
        let before: Vec<Phase> = seen_by_flush.lock().unwrap().clone();
        assert_eq!(before, Phase::ALL[..5]);
        Ok(())
    });
    let recorder = seen.clone();
    shutdown.on_phase_end(move |phase| recorder.lock().unwrap().push(phase.phase));
    shutdown.handle().trigger("test");
    let report = shutdown.run().await;

    assert_eq!(*seen.lock().unwrap(), Phase::ALL);
    assert_eq!(report.phase(Phase::Flush).unwrap().outcome, Outcome::Done);
}

/// On the real clock, timers wake a little after their deadline. A phase
/// that finished inside its budget must still never show more elapsed
/// milliseconds than budget.
#[tokio::test]
async fn a_phase_done_in_time_never_shows_more_elapsed_than_budget() {
    for _ in 0..5 {
        let mut shutdown = Shutdown::builder(ShutdownConfig {
            grace_period: Duration::from_millis(2000),
            drain_delay: Duration::from_millis(37),
            flush_timeout: Duration::from_millis(100),
            close_timeout: Duration::from_millis(100),
            margin: Duration::from_millis(100),
            cancel_timeout: Duration::from_millis(100),
        })
        .without_signals()
        .build()
        .unwrap();
        shutdown.on(Phase::Drain, "quick", sleeper(Duration::from_millis(3)));
        shutdown.handle().trigger("test");
        let report = shutdown.run().await;
        for phase in report.phases.iter().filter(|p| p.outcome == Outcome::Done) {
            assert!(
                phase.elapsed_ms <= phase.budget_ms || phase.budget_ms == 0,
                "{}: done in {} ms of a {} ms budget",
                phase.phase,
                phase.elapsed_ms,
                phase.budget_ms
            );
        }
        assert_eq!(report.phase(Phase::Delay).unwrap().budget_ms, 37);
    }
}
