//! The coordinator as Kubernetes meets it: a real process, real signals, the
//! JSON `shutdown report` read back from its stdout.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;
use testkit::report::phase;
use testkit::{ANY_PORT, Service, bound_addr, free_addr};

const PROBE: &str = env!("CARGO_BIN_EXE_shutdown-probe");

struct Probe {
    service: Service,
    ops: String,
}

async fn start(hooks: &str, env: &[(&str, &str)]) -> Probe {
    let mut vars = vec![
        ("OPS_LISTEN_ADDR", ANY_PORT.to_owned()),
        ("PROBE_HOOKS", hooks.to_owned()),
    ];
    vars.extend(env.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let service = Service::spawn(PROBE, &vars);
    let ready = service
        .wait_for_message("ready", Duration::from_secs(10))
        .await;
    Probe {
        ops: format!("http://{}", bound_addr(&ready, "ops_addr")),
        service,
    }
}

/// The probe's own hook in a phase; every service also registers a
/// `telemetry` flush hook and an `ops server` close hook, which these tests
/// are not about.
fn probe_hook<'r>(report: &'r Value, phase_name: &str) -> &'r Value {
    testkit::report::hooks(report, phase_name)
        .iter()
        .find(|hook| hook["name"] != "telemetry" && hook["name"] != "ops server")
        .unwrap_or_else(|| panic!("no probe hook in {phase_name}"))
}

fn hook_outcome(report: &Value, phase_name: &str) -> String {
    probe_hook(report, phase_name)["outcome"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn sigterm_flips_readiness_at_once_and_runs_the_phases_in_order() {
    let mut probe = start(
        "stop_intake:listener:10ms,drain:requests:300ms,cancel:jobs:10ms,flush:exporter:10ms,close:pool:10ms",
        &[("SHUTDOWN_DRAIN_DELAY", "500ms"), ("SHUTDOWN_GRACE_PERIOD", "10s")],
    )
    .await;
    let client = reqwest::Client::new();
    let readyz = format!("{}/readyz", probe.ops);
    assert_eq!(client.get(&readyz).send().await.unwrap().status(), 200);

    let signalled = Instant::now();
    probe.service.signal(Signal::SIGTERM);
    let not_ready_after = loop {
        if client.get(&readyz).send().await.unwrap().status() == 503 {
            break signalled.elapsed();
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(1),
            "readiness never turned false"
        );
    };
    assert!(
        not_ready_after <= Duration::from_millis(50),
        "readiness took {not_ready_after:?}"
    );
    // Liveness is a different question: the process is fine, just leaving.
    assert_eq!(
        client
            .get(format!("{}/livez", probe.ops))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let status = probe.service.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
    let report = probe.service.report(Duration::from_secs(1)).await;
    assert_eq!(report["trigger"], "SIGTERM");
    assert_eq!(report["outcome"], "clean");
    assert_eq!(report["deadline_met"], true);
    let order: Vec<&str> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "announce",
            "delay",
            "stop_intake",
            "drain",
            "cancel",
            "flush",
            "close"
        ]
    );
    let starts: Vec<u64> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["start_offset_ms"].as_u64().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|pair| pair[0] <= pair[1]),
        "phases overlap: {starts:?}"
    );
    assert!(
        phase(&report, "stop_intake")["start_offset_ms"]
            .as_u64()
            .unwrap()
            >= 500,
        "the drain delay was not kept"
    );
    assert_eq!(probe_hook(&report, "drain")["counts"]["slept_ms"], 300);
}

#[tokio::test]
async fn an_overrunning_hook_is_cut_at_its_budget_and_the_process_still_exits_in_time() {
    // 4s grace: 0 delay, 1s cancel, 1s flush, 500ms close, 500ms margin → 1s drain.
    let grace = Duration::from_secs(4);
    let mut probe = start(
        "drain:stuck:1h,flush:dead-collector:1h,close:pool:10ms",
        &[
            ("SHUTDOWN_GRACE_PERIOD", "4s"),
            ("SHUTDOWN_DRAIN_DELAY", "0s"),
            ("SHUTDOWN_FLUSH_TIMEOUT", "1s"),
            ("SHUTDOWN_CLOSE_TIMEOUT", "500ms"),
            ("SHUTDOWN_MARGIN", "500ms"),
        ],
    )
    .await;
    let signalled = Instant::now();
    probe.service.signal(Signal::SIGTERM);
    let status = probe.service.wait_exit(grace * 2).await;
    let took = signalled.elapsed();
    assert!(
        took < grace - Duration::from_millis(500),
        "took {took:?}, past grace - margin"
    );
    assert_eq!(
        status.code(),
        Some(1),
        "a flush that overruns is an overrun"
    );

    let report = probe.service.report(Duration::from_secs(1)).await;
    assert_eq!(report["outcome"], "overran");
    assert_eq!(hook_outcome(&report, "drain"), "timed_out");
    assert_eq!(hook_outcome(&report, "flush"), "timed_out");
    assert_eq!(hook_outcome(&report, "close"), "done");
    let flush = &probe_hook(&report, "flush");
    assert!(
        (1000..1200).contains(&flush["elapsed_ms"].as_u64().unwrap()),
        "flush cut at {flush}"
    );
}

#[tokio::test]
async fn a_second_signal_skips_the_delay_and_drain() {
    let mut probe = start(
        "drain:stuck:1h,cancel:release:10ms,close:pool:10ms",
        &[
            ("SHUTDOWN_DRAIN_DELAY", "20s"),
            ("SHUTDOWN_GRACE_PERIOD", "60s"),
        ],
    )
    .await;
    let signalled = Instant::now();
    probe.service.signal(Signal::SIGTERM);
    probe
        .service
        .wait_for_message("shutdown started", Duration::from_secs(2))
        .await;
    probe.service.signal(Signal::SIGINT);
    let status = probe.service.wait_exit(Duration::from_secs(10)).await;
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "the second signal did not hurry"
    );
    assert_eq!(status.code(), Some(0));
    let report = probe.service.report(Duration::from_secs(1)).await;
    assert_eq!(phase(&report, "delay")["outcome"], "skipped");
    assert_eq!(phase(&report, "drain")["outcome"], "skipped");
    assert_eq!(hook_outcome(&report, "cancel"), "done");
    assert_eq!(hook_outcome(&report, "close"), "done");
}

async fn third_signal_exit_code(signal: Signal) -> Option<i32> {
    let mut probe = start(
        "drain:stuck:1h,cancel:stuck:1h",
        &[
            ("SHUTDOWN_DRAIN_DELAY", "20s"),
            ("SHUTDOWN_GRACE_PERIOD", "60s"),
        ],
    )
    .await;
    probe.service.signal(signal);
    probe
        .service
        .wait_for_message("shutdown started", Duration::from_secs(2))
        .await;
    probe.service.signal(signal);
    probe
        .service
        .wait_for("second-signal warning", Duration::from_secs(2), |e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("second signal"))
        })
        .await;
    probe.service.signal(signal);
    let status = probe.service.wait_exit(Duration::from_secs(2)).await;
    assert!(
        probe.service.stderr().contains("third signal"),
        "{}",
        probe.service.stderr()
    );
    status.code()
}

#[tokio::test]
async fn a_third_sigterm_exits_at_once_with_143() {
    assert_eq!(third_signal_exit_code(Signal::SIGTERM).await, Some(143));
}

#[tokio::test]
async fn a_third_sigint_exits_at_once_with_130() {
    assert_eq!(third_signal_exit_code(Signal::SIGINT).await, Some(130));
}

#[tokio::test]
async fn a_panicking_hook_is_reported_failed_and_later_phases_still_run() {
    let mut probe = start(
        "drain:boom:panic,flush:exporter:10ms,close:pool:10ms",
        &[
            ("SHUTDOWN_DRAIN_DELAY", "0s"),
            ("PGPASSWORD", "pgpass-s3cret"),
        ],
    )
    .await;
    probe.service.signal(Signal::SIGTERM);
    let status = probe.service.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(1));
    let report = probe.service.report(Duration::from_secs(1)).await;
    assert_eq!(report["outcome"], "failed");
    assert_eq!(hook_outcome(&report, "drain"), "failed");
    let error = probe_hook(&report, "drain")["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("panicked on purpose"), "{error}");
    let printed = format!(
        "{}{}",
        probe.service.stdout().join("\n"),
        probe.service.stderr()
    );
    assert!(
        !printed.contains("pgpass-s3cret"),
        "the panic's secret reached the output: {printed}"
    );
    assert_eq!(hook_outcome(&report, "flush"), "done");
    assert_eq!(hook_outcome(&report, "close"), "done");
}

#[tokio::test]
async fn a_budget_that_cannot_fit_exits_2_naming_the_settings_before_serving() {
    let ops_addr = free_addr();
    let mut service = Service::spawn(
        PROBE,
        &[
            ("SHUTDOWN_GRACE_PERIOD", "5s".into()),
            ("OPS_LISTEN_ADDR", ops_addr.to_string()),
        ],
    );
    let status = service.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(2));
    let stderr = service.stderr();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    for setting in [
        "SHUTDOWN_GRACE_PERIOD (5s)",
        "SHUTDOWN_DRAIN_DELAY",
        "SHUTDOWN_FLUSH_TIMEOUT",
        "SHUTDOWN_MARGIN",
    ] {
        assert!(stderr.contains(setting), "{setting} missing: {stderr}");
    }
    assert!(
        std::net::TcpStream::connect(ops_addr).is_err(),
        "nothing may be served"
    );
}

#[tokio::test]
async fn an_invalid_setting_exits_2_with_one_line_naming_it() {
    let mut service = Service::spawn(PROBE, &[("SHUTDOWN_DRAIN_DELAY", "soon".into())]);
    let status = service.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(2));
    let stderr = service.stderr();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("SHUTDOWN_DRAIN_DELAY"), "{stderr}");
}

#[tokio::test]
async fn sighup_reloads_the_log_filter_and_a_bad_filter_keeps_the_old_one() {
    let dir = std::env::temp_dir().join(format!("probe-filter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let filter = dir.join("filter");
    std::fs::write(&filter, "info").unwrap();
    let mut probe = start(
        "",
        &[
            ("LOG_FILTER_FILE", filter.display().to_string().as_str()),
            ("SHUTDOWN_DRAIN_DELAY", "0s"),
        ],
    )
    .await;

    std::fs::write(&filter, "info,nope=notalevel").unwrap();
    probe.service.signal(Signal::SIGHUP);
    let failed = probe
        .service
        .wait_for_message(
            "reload failed; keeping the old setting",
            Duration::from_secs(5),
        )
        .await;
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("LOG_FILTER_FILE"),
        "{failed}"
    );

    // A clean shutdown reports at info, so an `error` filter must hide it.
    // The reload's own event (`shutdown::trigger`) stays visible, so the
    // test knows the new filter is in place before it sends SIGTERM.
    std::fs::write(&filter, "error,shutdown::trigger=info").unwrap();
    probe.service.signal(Signal::SIGHUP);
    probe
        .service
        .wait_for_message("reloaded", Duration::from_secs(5))
        .await;
    probe.service.signal(Signal::SIGTERM);
    let status = probe.service.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
    let messages: Vec<String> = probe
        .service
        .events()
        .iter()
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .collect();
    assert!(
        !messages.iter().any(|m| m == "shutdown report"),
        "the reloaded filter must hide info events: {messages:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The drill's negative control must really cut work off: no delay, no
/// drain, no report.
#[tokio::test]
async fn immediate_mode_exits_on_the_first_signal_without_a_report() {
    let mut probe = start(
        "drain:requests:5s",
        &[
            ("SHUTDOWN_MODE", "immediate"),
            ("SHUTDOWN_DRAIN_DELAY", "5s"),
        ],
    )
    .await;
    let signalled = Instant::now();
    probe.service.signal(Signal::SIGTERM);
    let status = probe.service.wait_exit(Duration::from_secs(2)).await;
    assert_eq!(status.code(), Some(143));
    assert!(signalled.elapsed() < Duration::from_secs(1));
    assert!(
        !probe
            .service
            .events()
            .iter()
            .any(|e| e["message"] == "shutdown report"),
        "immediate mode ran the graceful shutdown"
    );
}
