//! The `shutdown report` in both its shapes, from a real process and a real
//! signal: one JSON event with the promised fields for `LOG_FORMAT=json`,
//! and a table a person reads at a glance for `LOG_FORMAT=pretty`.

use std::time::Duration;

use nix::sys::signal::Signal;
use testkit::{ANY_PORT, Service};

const PROBE: &str = env!("CARGO_BIN_EXE_shutdown-probe");

fn spawn(format: &str) -> Service {
    Service::spawn(
        PROBE,
        &[
            ("LOG_FORMAT", format.to_owned()),
            ("OPS_LISTEN_ADDR", ANY_PORT.to_owned()),
            ("SHUTDOWN_DRAIN_DELAY", "100ms".to_owned()),
            ("PROBE_HOOKS", "drain:requests:50ms".to_owned()),
            ("NO_COLOR", "1".to_owned()),
        ],
    )
}

#[tokio::test]
async fn in_json_the_report_is_one_event_with_its_fields() {
    let mut probe = spawn("json");
    probe
        .wait_for_message("ready", Duration::from_secs(10))
        .await;
    probe.signal(Signal::SIGTERM);
    let report = probe.report(Duration::from_secs(10)).await;
    for field in [
        "trigger",
        "outcome",
        "elapsed_ms",
        "deadline_ms",
        "deadline_met",
    ] {
        assert!(!report[field].is_null(), "{field} missing: {report}");
    }
    assert_eq!(
        report["phases"].as_array().map(Vec::len),
        Some(7),
        "{report}"
    );
    assert_eq!(
        probe.wait_exit(Duration::from_secs(10)).await.code(),
        Some(0)
    );
}

#[tokio::test]
async fn in_pretty_the_report_is_a_line_per_phase_then_a_summary() {
    let mut probe = spawn("pretty");
    probe.wait_for_text("ready", Duration::from_secs(10)).await;
    probe.signal(Signal::SIGTERM);
    probe
        .wait_for_text("SIGTERM: clean in", Duration::from_secs(10))
        .await;
    assert_eq!(
        probe.wait_exit(Duration::from_secs(10)).await.code(),
        Some(0)
    );
    let stdout = probe.stdout();
    let start = stdout
        .iter()
        .position(|line| line.contains("shutdown report"))
        .expect("a shutdown report");
    let table = &stdout[start + 1..];
    let phases = [
        "announce",
        "delay",
        "stop_intake",
        "drain",
        "cancel",
        "flush",
        "close",
    ];
    for (line, phase) in table[1..].iter().zip(phases) {
        assert!(
            line.trim_start().starts_with(phase) && line.contains(" ms / "),
            "expected the {phase} line, got {line:?}\n{}",
            table.join("\n")
        );
    }
    // SHUTDOWN_DRAIN_DELAY is the delay's budget; done inside it, it never
    // shows more elapsed than budget.
    let delay = &table[2];
    let figures: Vec<u64> = delay
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    assert!(
        figures.len() == 2
            && figures[0] <= figures[1]
            && figures[1] == 100
            && delay.contains("done"),
        "{delay}"
    );
    assert!(
        table[8].contains("deadline") && table[8].contains("met"),
        "{}",
        table[8]
    );
    assert!(
        stdout.iter().all(|line| !line.contains("\"phases\"")),
        "no raw JSON in pretty mode"
    );
}
