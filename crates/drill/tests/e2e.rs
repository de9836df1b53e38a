//! Short local drills with the real binaries: the default one must pass, and
//! the same one against `SHUTDOWN_MODE=immediate` pods must fail.
//!
//! The api and worker binaries belong to other packages, so Cargo gives no
//! `CARGO_BIN_EXE_` for them: they are taken from the target dir
//! (`$CARGO_TARGET_DIR`, else `target/` at the workspace root), debug
//! profile. Build them first (`cargo build -p api -p worker`); when either is
//! missing or does not answer `--help`, these tests say so and skip, except
//! under `CI`, where they fail.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use testkit::TestDb;

/// The service binaries, or `None` (with the reason printed) to skip.
fn service_binaries() -> Option<(PathBuf, PathBuf)> {
    Some((
        testkit::workspace_binary("api")?,
        testkit::workspace_binary("worker")?,
    ))
}

struct Drill {
    exit_code: Option<i32>,
    report: Value,
    /// `requests.csv`, whole.
    requests: String,
    output: String,
}

/// One long job through the short drill's rollout: 40 steps of 300 ms,
/// longer than the 7.5 s before the rollout and the worker's 12 s drain
/// budget.
const LONG_JOB: [&str; 6] = [
    "--long-jobs",
    "1",
    "--long-job-steps",
    "40",
    "--long-job-step-time",
    "300ms",
];

/// 2 api and 1 worker replicas, each rolled once, 15 s at 100 requests/s,
/// with no long job.
async fn short_drill(shutdown_mode: &str) -> Option<Drill> {
    let (api, worker) = service_binaries()?;
    let args = [
        "--shutdown-mode",
        shutdown_mode,
        "--long-jobs",
        "0",
        "--worker-replicas",
        "1",
    ];
    drill_with(&api, &worker, &args).await
}

/// The short drill with `extra` arguments for `drill local`.
async fn drill_with(api: &Path, worker: &Path, extra: &[&str]) -> Option<Drill> {
    let db = TestDb::new().await;
    let out = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_drill"))
        .arg("local")
        .arg("--api-bin")
        .arg(api)
        .arg("--worker-bin")
        .arg(worker)
        .arg("--out")
        .arg(out.path())
        .args(["--duration", "15s", "--rate", "100"])
        .args(["--api-replicas", "2", "--rollouts", "1"])
        .args(extra)
        .env("DATABASE_URL", &db.url)
        .env("CI", "true")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the drill ends within 3 minutes")
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = std::fs::read(out.path().join("report.json"))
        .unwrap_or_else(|error| panic!("no report.json ({error}):\n{printed}"));
    assert!(
        out.path().join("timeline.svg").is_file(),
        "no chart:\n{printed}"
    );
    let requests = std::fs::read_to_string(out.path().join("requests.csv"))
        .unwrap_or_else(|error| panic!("no requests.csv ({error}):\n{printed}"));
    Some(Drill {
        exit_code: output.status.code(),
        report: serde_json::from_slice(&report).unwrap(),
        requests,
        output: printed,
    })
}

/// The fewest api endpoints the Service had at any moment between all of
/// the first `replicas` joining it and the final teardown.
fn fewest_endpoints_during_the_run(report: &Value, replicas: i64) -> i64 {
    let events = report["pod_events"].as_array().unwrap();
    let teardown_ms = events
        .iter()
        .filter(|e| e["event"] == "terminating")
        .map(|e| e["at_ms"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let (mut now, mut fewest, mut all_joined) = (0, i64::MAX, false);
    for event in events {
        if event["at_ms"].as_f64().unwrap() >= teardown_ms {
            break;
        }
        match event["event"].as_str().unwrap() {
            "endpoint_added" => now += 1,
            "endpoint_removed" => now -= 1,
            _ => continue,
        }
        all_joined |= now >= replicas;
        if all_joined {
            fewest = fewest.min(now);
        }
    }
    fewest
}

#[tokio::test]
async fn the_default_drill_passes_with_a_long_job_resumed_through_its_rollout() {
    let Some((api, worker)) = service_binaries() else {
        return;
    };
    let args = [LONG_JOB.as_slice(), &["--worker-replicas", "1"]].concat();
    let Some(drill) = drill_with(&api, &worker, &args).await else {
        return;
    };
    let report = &drill.report;
    assert_eq!(report["verdict"], "pass", "{}", drill.output);
    assert_eq!(drill.exit_code, Some(0), "{}", drill.output);
    assert_eq!(report["requests_failed"], 0);
    assert_eq!(report["orders_lost"], 0);
    assert_eq!(report["orders_bad_fulfil_count"], 0);
    assert_eq!(report["jobs_stuck"], 0);
    assert_eq!(report["pods_sigkilled"], 0);
    assert!(
        report["orders_acknowledged"].as_u64().unwrap() > 300,
        "{}",
        drill.output
    );
    // Every pod was rolled once and then torn down: 4 api and 2 worker pods.
    assert_eq!(
        report["pods"].as_array().unwrap().len(),
        6,
        "{}",
        drill.output
    );
    assert_eq!(report["rollout_windows"].as_array().unwrap().len(), 2);
    // Every shutdown finished within its budget, on its own.
    assert!(
        report["pods"]
            .as_array()
            .unwrap()
            .iter()
            .all(|pod| pod["code"] == 0 && pod["sigkilled"] == false),
        "{}",
        drill.output
    );
    assert!(report["p99_rollout_ms"].is_f64(), "{}", drill.output);
    // requests.csv: a header, then one line per request sent.
    let mut lines = drill.requests.lines();
    assert_eq!(lines.next(), Some(drill::requests_file::HEADER));
    let lines: Vec<&str> = lines.collect();
    assert_eq!(Some(lines.len() as u64), report["requests_total"].as_u64());
    let creates = lines.iter().filter(|l| l.contains(",create,ok,")).count();
    assert_eq!(Some(creates as u64), report["creates"].as_u64());
    // max_unavailable = 0: the Service never had fewer than 2 endpoints.
    assert!(
        fewest_endpoints_during_the_run(report, 2) >= 2,
        "{}",
        drill.output
    );
    let long = &report["long_jobs"];
    assert_eq!(
        (&long["jobs"], &long["completed"]),
        (&1.into(), &1.into()),
        "{long}"
    );
    assert_eq!(long["steps_recorded"], 40, "{long}");
    assert_eq!(long["steps_repeated"], 0, "{long}");
    assert!(long["resumptions_total"].as_u64().unwrap() >= 1, "{long}");
    assert_eq!(long["rescued"], 0, "{long}");
    let ticks = &report["ticks"];
    assert!(ticks["expected"].as_u64().unwrap() >= 2, "{ticks}");
    assert_eq!(ticks["completed"], ticks["expected"], "{ticks}");
    assert_eq!(
        (&ticks["missed"], &ticks["doubled"]),
        (&0.into(), &0.into())
    );
}

/// The schedules' negative control: two workers that each fire on their
/// own clock, as a home-made scheduler does, double every tick, and the
/// drill must fail on them.
#[tokio::test]
async fn workers_firing_on_their_own_clocks_fail_the_drill_with_ticks_doubled() {
    let Some((api, worker)) = service_binaries() else {
        return;
    };
    let control = [
        "--worker-scheduler",
        "local-timer",
        "--worker-replicas",
        "2",
        "--long-jobs",
        "0",
    ];
    let Some(drill) = drill_with(&api, &worker, &control).await else {
        return;
    };
    let report = &drill.report;
    assert_eq!(report["verdict"], "fail", "{}", drill.output);
    assert_eq!(drill.exit_code, Some(1), "{}", drill.output);
    assert!(
        report["ticks"]["doubled"].as_u64().unwrap() > 0,
        "{}",
        report["ticks"]
    );
    let reasons = report["reasons"].to_string();
    assert!(
        reasons.contains("enqueued or run more than once"),
        "{reasons}"
    );
    assert_eq!(report["requests_failed"], 0, "only the ticks failed it");
}

/// The long jobs' negative control: a job without checkpoints, through the
/// same rollout, starts over when the drain budget cuts it, and the drill
/// must fail on its repeated steps. Longer than `LONG_JOB` (60 steps of
/// 300 ms), and a 15 s grace period (a 7 s drain budget for the worker),
/// so the drain cuts it rather than letting it end inside the drain.
#[tokio::test]
async fn a_long_job_without_checkpoints_fails_the_drill_by_repeating_steps() {
    let Some((api, worker)) = service_binaries() else {
        return;
    };
    let control = [
        "--worker-replicas",
        "1",
        "--long-jobs",
        "1",
        "--long-job-steps",
        "60",
        "--long-job-step-time",
        "300ms",
        "--long-job-checkpoints",
        "false",
        "--termination-grace-period",
        "15s",
    ];
    let Some(drill) = drill_with(&api, &worker, &control).await else {
        return;
    };
    let report = &drill.report;
    assert_eq!(report["verdict"], "fail", "{}", drill.output);
    assert_eq!(drill.exit_code, Some(1), "{}", drill.output);
    let long = &report["long_jobs"];
    assert!(long["steps_repeated"].as_u64().unwrap() > 0, "{long}");
    let reasons = report["reasons"].to_string();
    assert!(
        reasons.contains("had their effect more than once"),
        "{reasons}"
    );
    assert_eq!(report["requests_failed"], 0, "only the long job failed it");
}

/// A drill whose own thread is taken from it for 300 ms once a second, as
/// on a starved machine: the requests due meanwhile go out late. The run
/// must still pass (nothing failed, nothing was lost), and must say that
/// the lag was the drill's, with latency from sending apart from it.
#[tokio::test]
async fn a_starved_load_generator_says_so_instead_of_blaming_the_services() {
    let Some((api, worker)) = service_binaries() else {
        return;
    };
    let args = [
        "--rollouts",
        "0",
        "--duration",
        "8s",
        "--long-jobs",
        "0",
        "--worker-replicas",
        "1",
        "--schedule-period",
        "0s",
        "--starve-generator",
        "300ms",
    ];
    let Some(drill) = drill_with(&api, &worker, &args).await else {
        return;
    };
    let report = &drill.report;
    assert_eq!(report["verdict"], "pass", "{}", drill.output);
    let generator = &report["generator"];
    assert_eq!(generator["behind"], true, "{generator}");
    let lag_p99 = generator["lag"]["p99_ms"].as_f64().unwrap();
    assert!(lag_p99 >= 250.0, "{generator}");
    assert!(
        generator["late_requests"].as_u64().unwrap() >= 100,
        "about a quarter of 800 requests went out late: {generator}"
    );
    let from_due = report["latency_steady"]["p99_ms"].as_f64().unwrap();
    let from_send = report["latency_steady_from_send"]["p50_ms"]
        .as_f64()
        .unwrap();
    assert!(from_due >= 250.0, "{}", report["latency_steady"]);
    assert!(from_send < from_due, "{}", drill.output);
    assert!(
        drill
            .output
            .contains("note: the load generator fell behind"),
        "{}",
        drill.output
    );
}

#[tokio::test]
async fn pods_that_exit_on_sigterm_fail_the_drill() {
    let Some(drill) = short_drill("immediate").await else {
        return;
    };
    let report = &drill.report;
    assert_eq!(report["verdict"], "fail", "{}", drill.output);
    assert_eq!(drill.exit_code, Some(1), "{}", drill.output);
    assert!(
        report["requests_failed"].as_u64().unwrap() > 0,
        "{}",
        drill.output
    );
    // The pods died of the signal's own exit status, not of a SIGKILL.
    assert!(
        report["pods"]
            .as_array()
            .unwrap()
            .iter()
            .all(|pod| pod["code"] == 143 && pod["sigkilled"] == false),
        "{}",
        drill.output
    );
}

/// The upgrade drill's negative control: the api moves to a release that
/// enqueues `send_receipt`, the workers stay on one that runs no such kind.
/// The drill must fail, and say the receipts wait: not lost, not discarded.
///
/// Release N's worker is this build's, told by `WORKER_KINDS` to run only
/// the kinds a worker from before `send_receipt` had: the claim filters on
/// the kinds a worker runs, so this is the path an older binary takes.
#[tokio::test]
async fn an_upgrade_that_leaves_the_workers_behind_fails_with_the_new_kind_waiting() {
    let Some((api, worker)) = service_binaries() else {
        return;
    };
    let old = tempfile::tempdir().unwrap();
    let old_worker = old.path().join("worker");
    std::fs::write(
        &old_worker,
        format!(
            "#!/bin/sh\nWORKER_KINDS=fulfil_order,noop exec '{}' \"$@\"\n",
            worker.display()
        ),
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&old_worker).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&old_worker, permissions).unwrap();
    let old_worker = old_worker.display().to_string();
    let api_path = api.display().to_string();
    let Some(drill) = drill_with(
        &api,
        &worker,
        &[
            "--upgrade-from-api-bin",
            &api_path,
            "--upgrade-from-worker-bin",
            &old_worker,
            "--upgrade-workers",
            "false",
            "--queue-drain-timeout",
            "5s",
            "--long-jobs",
            "0",
            "--worker-replicas",
            "1",
            "--schedule-period",
            "0s",
        ],
    )
    .await
    else {
        return;
    };
    let report = &drill.report;
    assert_eq!(report["verdict"], "fail", "{}", drill.output);
    assert_ne!(drill.exit_code, Some(0));
    let receipts = &report["jobs_by_kind"]["send_receipt"];
    assert!(
        receipts["available"].as_u64().unwrap_or(0) > 0,
        "the receipts wait: {receipts}\n{}",
        drill.output
    );
    assert!(
        receipts["discarded"].is_null(),
        "none discarded: {receipts}"
    );
    assert_eq!(report["jobs_discarded"], 0);
    assert_eq!(report["orders_lost"], 0);
    assert_eq!(report["orders_bad_fulfil_count"], 0);
    assert_eq!(report["requests_failed"], 0, "{}", drill.output);
    let reasons = report["reasons"].to_string();
    assert!(
        reasons.contains("send_receipt") && reasons.contains("waiting"),
        "{reasons}"
    );
}
