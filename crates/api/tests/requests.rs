//! Every kind of bad input, and every layer that can refuse a request, gets
//! its documented status and the one JSON error shape; every request gets
//! an id. In-process: these are about what a request gets back.

mod in_process;

use axum::body::Body;
use axum::http::Request;
use serde_json::json;

use in_process::app;

#[tokio::test]
async fn bad_input_gets_its_status_and_the_error_shape() {
    let app = app().await;

    app.post_json("/v1/orders", "{not json")
        .await
        .error(400, "invalid_json");
    let trailing = r#"{"customer_id":"c","items":[{"sku":"s","qty":1}]} trailing"#;
    app.post_json("/v1/orders", trailing)
        .await
        .error(400, "invalid_json");

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
        let answer = app.post_json("/v1/orders", body).await;
        assert_eq!(
            answer.error(422, "invalid_request")["field"],
            field,
            "{body}"
        );
    }

    let no_content_type = Request::post("/v1/orders").body(Body::from("{}")).unwrap();
    app.call(no_content_type)
        .await
        .error(415, "unsupported_media_type");
    let text = Request::post("/v1/orders")
        .header("content-type", "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    app.call(text).await.error(415, "unsupported_media_type");

    // Above the limit, announced by Content-Length and streamed without one.
    let big = format!(r#"{{"customer_id":"{}","items":[]}}"#, "x".repeat(2000));
    app.post_json("/v1/orders", big.clone())
        .await
        .error(413, "payload_too_large");
    let chunks: Vec<Result<String, std::io::Error>> = vec![Ok(big)];
    let streamed = Body::from_stream(futures::stream::iter(chunks));
    app.post_json("/v1/orders", streamed)
        .await
        .error(413, "payload_too_large");

    let bad_key = Request::post("/v1/orders")
        .header("content-type", "application/json")
        .header("Idempotency-Key", "has spaces")
        .body(Body::from(
            json!({"customer_id": "c", "items": [{"sku": "s", "qty": 1}]}).to_string(),
        ))
        .unwrap();
    let answer = app.call(bad_key).await;
    assert_eq!(
        answer.error(400, "invalid_parameter")["field"],
        "Idempotency-Key"
    );

    let bad_id = app.get("/v1/orders/not-a-uuid").await;
    assert_eq!(bad_id.error(400, "invalid_parameter")["field"], "id");
    app.get("/v1/orders/not-a-uuid/events")
        .await
        .error(400, "invalid_parameter");
    app.get(&format!("/v1/orders/{}", uuid::Uuid::new_v4()))
        .await
        .error(404, "not_found");

    app.get("/v2/nothing").await.error(404, "not_found");
    let wrong_method = app
        .call(Request::delete("/v1/orders").body(Body::empty()).unwrap())
        .await;
    assert_eq!(wrong_method.headers["allow"], "POST");
    wrong_method.error(405, "method_not_allowed");

    app.get("/test/panic").await.error(500, "internal");
    // The panic was contained: the app still serves.
    assert_eq!(app.get("/").await.status, 200);
}

#[tokio::test]
async fn every_response_carries_a_request_id_the_callers_or_a_new_one() {
    let app = app().await;
    let echoed = app
        .call(
            Request::get("/")
                .header("x-request-id", "req-123")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(echoed.headers["x-request-id"], "req-123");
    let minted = app.get("/v2/nothing").await;
    let id = minted.headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}
