//! What needs the real process: shedding and timeouts under real
//! concurrency, with the log they leave, and the metrics it exports. The
//! error shapes themselves are tested in-process (`requests.rs`).

mod common;

use std::time::Duration;

use nix::sys::signal::Signal;

use common::{error_of, sample, start};

#[tokio::test]
async fn load_is_shed_with_retry_after_and_slow_requests_time_out() {
    let mut api = start(&[
        ("API_CONCURRENCY_LIMIT", "1"),
        ("API_REQUEST_TIMEOUT", "300ms"),
    ])
    .await;
    let client = reqwest::Client::new();
    let slow = tokio::spawn(client.get(format!("{}/test/slow?ms=2000", api.base)).send());
    api.wait_gets_in_flight(1.0).await;
    let shed = client.get(&api.base).send().await.unwrap();
    assert_eq!(shed.headers()["retry-after"], "1");
    error_of(shed, 503, "overloaded").await;

    let timed_out = slow.await.unwrap().unwrap();
    assert_eq!(timed_out.headers()["retry-after"], "1");
    error_of(timed_out, 503, "timeout").await;
    assert_eq!(client.get(&api.base).send().await.unwrap().status(), 200);

    // Shedding must stay cheap: no ERROR line per shed or timed-out request.
    api.service.signal(Signal::SIGTERM);
    assert!(
        api.service
            .wait_exit(Duration::from_secs(10))
            .await
            .success()
    );
    let errors: Vec<_> = api
        .service
        .events()
        .into_iter()
        .filter(|event| event["level"] == "ERROR")
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test]
async fn requests_are_measured_by_route_method_and_status() {
    let api = start(&[]).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        assert_eq!(client.get(&api.base).send().await.unwrap().status(), 200);
    }

    let metrics = api.metrics().await;
    let get_root = [
        ("http_request_method", "GET"),
        ("http_route", "/"),
        ("http_response_status_code", "200"),
    ];
    assert_eq!(
        sample(
            &metrics,
            "http_server_request_duration_seconds_count",
            &get_root
        ),
        Some(2.0),
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "http_server_request_duration_seconds_bucket",
            &get_root
        )
        .is_some(),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "http_server_active_requests",
            &[("http_request_method", "GET")]
        ),
        Some(0.0),
        "{metrics}"
    );
}
