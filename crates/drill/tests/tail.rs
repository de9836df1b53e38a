//! The latency after each pod event: which step of a rollout the tail
//! follows.

use drill::load::record::{Op, Outcome, Record};
use drill::tail::{AFTER_EVENT_MS, after_events};
use drill::timeline::{PodEvent, PodEventKind};

fn read(at_ms: f64, latency_ms: u64) -> Record {
    Record {
        at_ms,
        latency_us: latency_ms * 1000,
        lag_us: 0,
        op: Op::Read,
        outcome: Outcome::Ok,
        retries: 0,
    }
}

fn event(at_ms: f64, pod: &str, kind: PodEventKind) -> PodEvent {
    PodEvent {
        at_ms,
        pod: pod.to_owned(),
        kind,
    }
}

#[test]
fn requests_after_an_event_are_measured_for_it_and_for_its_kind() {
    // One request every 10 ms for 10 s, 5 ms each, but 80 ms in the two
    // seconds after api-4 joined the Service.
    let records: Vec<Record> = (0..1000u32)
        .map(|i| {
            let at_ms = f64::from(i) * 10.0;
            let slow = (5000.0..5000.0 + AFTER_EVENT_MS).contains(&at_ms);
            read(at_ms, if slow { 80 } else { 5 })
        })
        .collect();
    let events = [
        event(1000.0, "api-4", PodEventKind::Started),
        event(5000.0, "api-4", PodEventKind::EndpointAdded),
        event(8000.0, "api-1", PodEventKind::EndpointRemoved),
        // After the load's last request: nothing after it to measure…
        event(20_000.0, "api-1", PodEventKind::Sigterm),
    ];
    let tail = after_events(&records, &events);
    let added = tail
        .by_kind
        .iter()
        .find(|kind| kind.event == "endpoint_added")
        .expect("requests followed the endpoint's addition");
    assert_eq!(added.latency.requests, 200);
    assert!((added.latency.p50_ms - 80.0).abs() < 0.5, "{added:?}");
    let removed = tail
        .by_kind
        .iter()
        .find(|kind| kind.event == "endpoint_removed")
        .unwrap();
    assert!((removed.latency.p99_ms - 5.0).abs() < 0.1, "{removed:?}");
    // …so the SIGTERM after the load has no row.
    assert!(tail.by_kind.iter().all(|kind| kind.event != "sigterm"));
    let order: Vec<&str> = tail.events.iter().map(|e| e.event).collect();
    assert_eq!(order, ["started", "endpoint_added", "endpoint_removed"]);
    assert_eq!(tail.events[1].pod, "api-4");
}
