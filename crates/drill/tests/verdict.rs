//! The verdict's arithmetic: counting by class, splitting latency by
//! rollout window, and the pass rule.

use drill::db::DbCheck;
use drill::load::record::{Op, Outcome, Record};
use drill::long_jobs::LongJobs;
use drill::ticks::Ticks;
use drill::timeline::Window;
use drill::verdict::{Evidence, Failures, judge, tally};

fn record(at_ms: f64, latency_ms: u64, op: Op, outcome: Outcome) -> Record {
    Record {
        at_ms,
        latency_us: latency_ms * 1000,
        lag_us: 0,
        op,
        outcome,
        retries: 0,
    }
}

fn window(from_ms: f64, to_ms: f64) -> Window {
    Window {
        deployment: "api".to_owned(),
        from_ms,
        to_ms,
    }
}

/// A run where everything went right.
fn clean() -> Evidence {
    let records = [record(0.0, 5, Op::Create, Outcome::Ok)];
    Evidence {
        tally: tally(&records, &[]),
        orders_acknowledged: 1,
        db: DbCheck {
            orders_present: 1,
            ..DbCheck::default()
        },
        queue_drained: true,
        pods_sigkilled: Some(0),
        pods_exited_nonzero: Some(0),
        rollouts_outlasting_load: Vec::new(),
        long_jobs: Some(long_jobs_resumed()),
        ticks: Some(Ticks {
            expected: 8,
            enqueued: 8,
            completed: 8,
            ..Ticks::default()
        }),
    }
}

/// Two long jobs of 50 steps through two rollouts, each resumed, each step
/// once.
fn long_jobs_resumed() -> LongJobs {
    LongJobs {
        jobs: 2,
        completed: 2,
        steps_expected: 100,
        steps_recorded: 100,
        resumptions: vec![4, 3],
        resumptions_total: 7,
        rollouts: 2,
        ..LongJobs::default()
    }
}

#[test]
fn failures_are_counted_by_class() {
    let records = [
        record(0.0, 1, Op::Create, Outcome::Ok),
        record(1.0, 1, Op::Read, Outcome::Refused),
        record(2.0, 1, Op::Read, Outcome::Reset),
        record(3.0, 1, Op::Create, Outcome::Reset),
        record(4.0, 1, Op::Read, Outcome::ServerError),
        record(5.0, 1, Op::Read, Outcome::Timeout),
        record(6.0, 1, Op::Watch, Outcome::Unexpected),
    ];
    let tally = tally(&records, &[]);
    assert_eq!(tally.requests_total, 7);
    assert_eq!(tally.requests_succeeded, 1);
    assert_eq!(tally.requests_failed, 6);
    assert_eq!(
        tally.failures,
        Failures {
            refused: 1,
            reset: 2,
            server_error: 1,
            timeout: 1,
            unexpected: 1,
        }
    );
    assert_eq!((tally.creates, tally.reads, tally.watches), (2, 4, 1));
}

#[test]
fn latency_is_split_by_whether_the_request_was_due_inside_a_rollout() {
    let mut records: Vec<Record> = (0..100)
        .map(|i| record(f64::from(i), 10, Op::Read, Outcome::Ok))
        .collect();
    // Due inside the window [1000, 2000): slow.
    records.extend((0..10).map(|i| record(1000.0 + f64::from(i), 500, Op::Create, Outcome::Ok)));
    // A watch lasts as long as its order; it is no latency.
    records.push(record(1500.0, 60_000, Op::Watch, Outcome::Ok));
    let tally = tally(&records, &[window(1000.0, 2000.0)]);
    assert_eq!(tally.steady.requests, 100);
    let rollout = tally.rollout.expect("requests were due inside the window");
    assert_eq!(rollout.requests, 10);
    assert!(
        (tally.steady.p99_ms - 10.0).abs() < 0.1,
        "{:?}",
        tally.steady
    );
    assert!((rollout.p50_ms - 500.0).abs() < 1.0, "{rollout:?}");
    assert!((rollout.max_ms - 500.0).abs() < 1.0, "{rollout:?}");
}

#[test]
fn the_drills_own_lag_is_told_apart_from_the_services_latency() {
    // 100 requests answered 10 ms after sending; the last 10 were sent
    // 300 ms late, so 310 ms from their due time.
    let records: Vec<Record> = (0..100u32)
        .map(|i| {
            let lag_ms = if i >= 90 { 300 } else { 0 };
            Record {
                lag_us: lag_ms * 1000,
                ..record(f64::from(i), 10 + lag_ms, Op::Read, Outcome::Ok)
            }
        })
        .collect();
    let tally = tally(&records, &[]);
    assert!(
        (tally.steady.p99_ms - 310.0).abs() < 1.0,
        "{:?}",
        tally.steady
    );
    assert!(
        (tally.steady_from_send.p99_ms - 10.0).abs() < 0.1,
        "{:?}",
        tally.steady_from_send
    );
    assert_eq!(tally.generator.late_requests, 10);
    assert!((tally.generator.lag.p99_ms - 300.0).abs() < 1.0);
    assert!(tally.generator.behind);

    // It still passes: a late drill is no failed request. But it says so.
    let mut evidence = clean();
    evidence.tally = tally;
    let verdict = judge(&evidence);
    assert!(verdict.pass, "{:?}", verdict.reasons);
    assert_eq!(verdict.notes.len(), 1, "{:?}", verdict.notes);
    assert!(
        verdict.notes[0].contains("load generator fell behind"),
        "{:?}",
        verdict.notes
    );
}

#[test]
fn a_drill_on_time_has_nothing_to_note() {
    let records: Vec<Record> = (0..100u32)
        .map(|i| Record {
            lag_us: 2_000,
            ..record(f64::from(i), 10, Op::Read, Outcome::Ok)
        })
        .collect();
    let mut evidence = clean();
    evidence.tally = tally(&records, &[]);
    assert!(!evidence.tally.generator.behind);
    assert_eq!(evidence.tally.generator.late_requests, 0);
    assert!(judge(&evidence).notes.is_empty());
}

#[test]
fn a_late_drill_still_fails_on_a_failed_request() {
    let mut records: Vec<Record> = (0..100u32)
        .map(|i| Record {
            lag_us: 500_000,
            ..record(f64::from(i), 510, Op::Read, Outcome::Ok)
        })
        .collect();
    records.push(record(200.0, 5000, Op::Create, Outcome::Timeout));
    let mut evidence = clean();
    evidence.tally = tally(&records, &[]);
    let verdict = judge(&evidence);
    assert!(!verdict.pass);
    assert!(
        verdict.reasons[0].contains("1 requests failed"),
        "{:?}",
        verdict.reasons
    );
    assert!(!verdict.notes.is_empty());
}

#[test]
fn without_a_request_inside_a_rollout_its_latency_is_not_a_number() {
    let records = [record(0.0, 10, Op::Read, Outcome::Ok)];
    assert_eq!(tally(&records, &[]).rollout, None);
    assert_eq!(tally(&records, &[window(1000.0, 2000.0)]).rollout, None);
}

#[test]
fn a_clean_run_passes() {
    let verdict = judge(&clean());
    assert!(verdict.pass, "{:?}", verdict.reasons);
    assert!(verdict.reasons.is_empty());
}

#[test]
fn a_single_failed_request_fails_the_run() {
    let mut evidence = clean();
    evidence.tally = tally(
        &[
            record(0.0, 5, Op::Create, Outcome::Ok),
            record(1.0, 5, Op::Read, Outcome::Reset),
        ],
        &[],
    );
    let verdict = judge(&evidence);
    assert!(!verdict.pass);
    assert!(
        verdict.reasons[0].contains("1 requests failed"),
        "{:?}",
        verdict.reasons
    );
}

#[test]
fn a_lost_order_fails_the_run() {
    let mut evidence = clean();
    evidence.orders_acknowledged = 3;
    evidence.db.orders_present = 2;
    assert_eq!(evidence.orders_lost(), 1);
    let verdict = judge(&evidence);
    assert!(!verdict.pass);
    assert!(
        verdict
            .reasons
            .iter()
            .any(|r| r.contains("1 acknowledged orders"))
    );
}

#[test]
fn an_order_not_fulfilled_exactly_once_fails_the_run() {
    let mut evidence = clean();
    evidence.db.orders_bad_fulfil_count = 2;
    assert!(!judge(&evidence).pass);
}

#[test]
fn a_stuck_queue_fails_the_run() {
    let mut evidence = clean();
    evidence.db.jobs_stuck = 1;
    assert!(!judge(&evidence).pass);
    let mut evidence = clean();
    evidence.queue_drained = false;
    assert!(!judge(&evidence).pass);
}

#[test]
fn a_sigkilled_pod_fails_the_run() {
    let mut evidence = clean();
    evidence.pods_sigkilled = Some(1);
    let verdict = judge(&evidence);
    assert!(!verdict.pass);
    assert!(verdict.reasons.iter().any(|r| r.contains("SIGKILL")));
}

#[test]
fn a_pod_exiting_non_zero_fails_a_graceful_run() {
    let mut evidence = clean();
    evidence.pods_exited_nonzero = Some(1);
    let verdict = judge(&evidence);
    assert!(!verdict.pass);
    assert_eq!(
        verdict.reasons,
        ["1 pods exited non-zero: their shutdown overran or failed"]
    );
}

#[test]
fn pod_exits_that_were_not_judged_do_not_count() {
    // External mode sees no pods; the negative control's exit non-zero.
    let mut evidence = clean();
    evidence.pods_sigkilled = None;
    evidence.pods_exited_nonzero = None;
    let verdict = judge(&evidence);
    assert!(verdict.pass, "{:?}", verdict.reasons);
}

#[test]
fn a_rollout_that_outlasts_the_load_fails_the_run() {
    let mut evidence = clean();
    evidence.rollouts_outlasting_load = vec![2];
    let verdict = judge(&evidence);
    assert!(!verdict.pass);
    assert_eq!(
        verdict.reasons,
        ["rollout 2 ended after the load: lengthen --duration"]
    );
}

#[test]
fn a_run_that_sent_nothing_proves_nothing() {
    let mut evidence = clean();
    evidence.tally = tally(&[], &[]);
    assert!(!judge(&evidence).pass);
}

/// Each way a long job can go wrong fails the run, with its own reason.
#[test]
fn long_jobs_fail_the_run_unless_each_completed_with_each_step_once_and_none_rescued() {
    type Spoil = fn(&mut LongJobs);
    let cases: [(&str, Spoil); 5] = [
        ("1 of 2 long jobs did not complete", |long| {
            long.completed = 1
        }),
        ("3 long-job steps had their effect more than once", |long| {
            long.steps_recorded = 103;
            long.steps_repeated = 3;
        }),
        ("2 steps of completed long jobs have no effect", |long| {
            long.steps_missing = 2
        }),
        (
            "1 long-job attempts were spent (1 jobs rescued by lease expiry",
            |long| {
                long.attempts_spent = 1;
                long.rescued = 1;
            },
        ),
        ("no long job was interrupted by a rollout", |long| {
            long.resumptions = vec![0, 0];
            long.resumptions_total = 0;
        }),
    ];
    for (reason, spoil) in cases {
        let mut evidence = clean();
        spoil(evidence.long_jobs.as_mut().unwrap());
        let verdict = judge(&evidence);
        assert!(!verdict.pass, "{reason}");
        assert_eq!(verdict.reasons.len(), 1, "{:?}", verdict.reasons);
        assert!(
            verdict.reasons[0].starts_with(reason),
            "{:?}",
            verdict.reasons
        );
    }
}

#[test]
fn long_jobs_that_ran_through_no_rollout_need_not_have_been_resumed() {
    // External mode rolls nothing the drill can see.
    let mut evidence = clean();
    let long = evidence.long_jobs.as_mut().unwrap();
    long.rollouts = 0;
    long.resumptions_total = 0;
    assert!(judge(&evidence).pass);
}

#[test]
fn ticks_missed_or_doubled_fail_the_run() {
    let cases: [(&str, Ticks); 3] = [
        (
            "2 of 8 schedule ticks were never enqueued",
            Ticks {
                expected: 8,
                enqueued: 6,
                completed: 6,
                missed: 2,
                doubled: 0,
            },
        ),
        (
            "8 of 8 schedule ticks were enqueued or run more than once",
            Ticks {
                expected: 8,
                enqueued: 0,
                completed: 0,
                missed: 0,
                doubled: 8,
            },
        ),
        (
            "1 schedule ticks were not completed exactly once",
            Ticks {
                expected: 8,
                enqueued: 8,
                completed: 7,
                missed: 0,
                doubled: 0,
            },
        ),
    ];
    for (reason, ticks) in cases {
        let mut evidence = clean();
        evidence.ticks = Some(ticks);
        let verdict = judge(&evidence);
        assert_eq!(verdict.reasons, [reason]);
    }
}
