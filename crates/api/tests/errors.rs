//! Every kind of bad input, and every layer that can refuse a request, gets
//! its documented status and the one JSON error shape.

mod common;

use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use common::{error_of, sample, start};

#[tokio::test]
async fn bad_input_gets_its_status_and_the_error_shape() {
    let api = start(&[("API_BODY_LIMIT", "1024")]).await;
    let client = reqwest::Client::new();
    let orders = format!("{}/v1/orders", api.base);
    let post_json = |body: &str| {
        client
            .post(&orders)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };

    error_of(post_json("{not json").await.unwrap(), 400, "invalid_json").await;
    let trailing = r#"{"customer_id":"c","items":[{"sku":"s","qty":1}]} trailing"#;
    error_of(post_json(trailing).await.unwrap(), 400, "invalid_json").await;

    let cases = [
        (r#"{"items":[{"sku":"s","qty":1}]}"#, "customer_id"),
        (
            r#"{"customer_id":"c","items":[{"sku":"s","qty":"two"}]}"#,
            "items[0].qty",
        ),
        (
            r#"{"customer_id":"c","items":[{"sku":"s","qty":-1}]}"#,
            "items[0].qty",
        ),
        (
            r#"{"customer_id":"c","items":[{"sku":"s","qty":0}]}"#,
            "items[0].qty",
        ),
        (
            r#"{"customer_id":"c","items":[{"sku":"","qty":1}]}"#,
            "items[0].sku",
        ),
        (
            r#"{"customer_id":" ","items":[{"sku":"s","qty":1}]}"#,
            "customer_id",
        ),
        (r#"{"customer_id":"c","items":[]}"#, "items"),
        (
            r#"{"customer_id":"c","items":[{"sku":"s","qty":1,"colour":"red"}]}"#,
            "items[0].colour",
        ),
    ];
    for (body, field) in cases {
        let error = error_of(post_json(body).await.unwrap(), 422, "invalid_request").await;
        assert_eq!(error["field"], field, "{body}: {error}");
    }

    let no_content_type = client.post(&orders).body("{}").send().await.unwrap();
    error_of(no_content_type, 415, "unsupported_media_type").await;
    let text = client
        .post(&orders)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    error_of(text, 415, "unsupported_media_type").await;

    // Above the limit, announced by Content-Length and streamed without one.
    let big = format!(r#"{{"customer_id":"{}","items":[]}}"#, "x".repeat(2000));
    error_of(post_json(&big).await.unwrap(), 413, "payload_too_large").await;
    let chunks: Vec<Result<String, std::io::Error>> = vec![Ok(big.clone())];
    let streamed = client
        .post(&orders)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    error_of(streamed, 413, "payload_too_large").await;

    let bad_key = client
        .post(&orders)
        .header("Idempotency-Key", "has spaces")
        .json(&json!({"customer_id": "c", "items": [{"sku": "s", "qty": 1}]}))
        .send()
        .await
        .unwrap();
    let error = error_of(bad_key, 400, "invalid_parameter").await;
    assert_eq!(error["field"], "Idempotency-Key");

    let bad_id = client
        .get(format!("{}/v1/orders/not-a-uuid", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(bad_id, 400, "invalid_parameter").await["field"],
        "id"
    );
    let bad_id = client
        .get(format!("{}/v1/orders/not-a-uuid/events", api.base))
        .send()
        .await
        .unwrap();
    error_of(bad_id, 400, "invalid_parameter").await;
    let unknown = client
        .get(format!("{}/v1/orders/{}", api.base, uuid::Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    error_of(unknown, 404, "not_found").await;

    let no_route = client
        .get(format!("{}/v2/nothing", api.base))
        .send()
        .await
        .unwrap();
    error_of(no_route, 404, "not_found").await;
    let wrong_method = client.delete(&orders).send().await.unwrap();
    assert_eq!(wrong_method.headers()["allow"], "POST");
    error_of(wrong_method, 405, "method_not_allowed").await;

    let panicked = client
        .get(format!("{}/test/panic", api.base))
        .send()
        .await
        .unwrap();
    error_of(panicked, 500, "internal").await;
    // The panic was contained: the process still serves.
    assert_eq!(client.get(&api.base).send().await.unwrap().status(), 200);
}

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
async fn request_ids_metrics_and_the_openapi_document() {
    let api = start(&[]).await;
    let client = reqwest::Client::new();

    let echoed = client
        .get(&api.base)
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "req-123");
    let minted = client.get(&api.base).send().await.unwrap();
    let id = minted.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

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

    let document: Value = client
        .get(format!("{}/openapi.json", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    for (path, method) in [
        ("/", "get"),
        ("/v1/orders", "post"),
        ("/v1/orders/{id}", "get"),
        ("/v1/orders/{id}/events", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(
            document["paths"][path][method].is_object(),
            "{method} {path}"
        );
    }
    assert!(document["paths"].get("/test/slow").is_none());
    let error_schema = &document["components"]["schemas"]["ErrorBody"];
    assert_eq!(error_schema["required"], json!(["error"]));
    let detail = &document["components"]["schemas"]["ErrorDetail"]["properties"];
    for field in ["code", "message", "field"] {
        assert!(detail[field].is_object(), "ErrorDetail.{field}");
    }
    let create = &document["paths"]["/v1/orders"]["post"]["responses"];
    for status in ["201", "200", "400", "413", "415", "422", "503"] {
        assert!(create[status].is_object(), "POST /v1/orders {status}");
    }
}
