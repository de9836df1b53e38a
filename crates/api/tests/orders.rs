//! Orders through the real `api` process and a real PostgreSQL: the order
//! and its job commit together, idempotency holds under concurrency, and the
//! event stream follows the order to its final status.

mod common;

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use common::{error_of, order_body, start};
use domain::{FulfilOrder, SendReceipt};
use queue::Job;
use testkit::{ANY_PORT, Service, TestDb, count};
use uuid::Uuid;

#[tokio::test]
async fn a_post_creates_the_order_and_its_job_together() {
    let api = start(&[]).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/v1/orders", api.base))
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["status"], "pending");
    assert_eq!(order["items"], order_body()["items"]);
    assert_eq!(
        location,
        format!("/v1/orders/{}", order["id"].as_str().unwrap())
    );

    let order_id: Uuid = order["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        testkit::enqueued::<FulfilOrder>(&api.db.pool).await,
        [FulfilOrder { order_id }]
    );
    assert_eq!(
        testkit::enqueued::<SendReceipt>(&api.db.pool).await,
        [SendReceipt {
            order_id,
            customer_id: Some("c-1".to_owned()),
        }]
    );

    let fetched: Value = client
        .get(format!("{}{location}", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, order);
    assert!(fetched["fulfilled_at"].is_null());
}

#[tokio::test]
async fn when_the_job_insert_fails_no_order_remains() {
    let api = start(&[]).await;
    sqlx::raw_sql(
        "create function refuse_jobs() returns trigger language plpgsql as $$
         begin raise exception 'jobs are refused in this test'; end $$;
         create trigger refuse_jobs before insert on jobs
         for each row execute function refuse_jobs();",
    )
    .execute(&api.db.pool)
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let post = || {
        client
            .post(format!("{}/v1/orders", api.base))
            .header("Idempotency-Key", "failing-once")
            .json(&order_body())
            .send()
    };
    error_of(post().await.unwrap(), 500, "internal").await;
    assert_eq!(count(&api.db.pool, "select count(*) from orders").await, 0);

    // The key was not taken by the rolled-back order: a retry creates it.
    sqlx::raw_sql("drop trigger refuse_jobs on jobs")
        .execute(&api.db.pool)
        .await
        .unwrap();
    assert_eq!(post().await.unwrap().status(), 201);
    assert_eq!(count(&api.db.pool, "select count(*) from orders").await, 1);
    assert_eq!(
        count(&api.db.pool, "select count(*) from jobs").await,
        2,
        "its fulfil_order and send_receipt jobs"
    );
}

#[tokio::test]
async fn twenty_concurrent_posts_with_one_key_create_one_order() {
    let api = start(&[]).await;
    let client = reqwest::Client::new();
    let posts = (0..20).map(|_| {
        client
            .post(format!("{}/v1/orders", api.base))
            .header("Idempotency-Key", "one-key")
            .json(&order_body())
            .send()
    });
    let responses = futures::future::join_all(posts).await;
    let mut created = 0;
    let mut ids = Vec::new();
    for response in responses {
        let response = response.unwrap();
        match response.status().as_u16() {
            201 => created += 1,
            200 => assert_eq!(response.headers()["idempotent-replayed"], "true"),
            other => panic!("unexpected {other}"),
        }
        let order: Value = response.json().await.unwrap();
        ids.push(order["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(created, 1);
    ids.dedup();
    assert_eq!(ids.len(), 1, "every response carries the same id");
    assert_eq!(count(&api.db.pool, "select count(*) from orders").await, 1);
    assert_eq!(
        count(&api.db.pool, "select count(*) from jobs").await,
        2,
        "its fulfil_order and send_receipt jobs"
    );
}

#[tokio::test]
async fn a_reused_key_with_another_body_is_refused() {
    let api = start(&[]).await;
    let client = reqwest::Client::new();
    let post = |body: Value| {
        client
            .post(format!("{}/v1/orders", api.base))
            .header("Idempotency-Key", "k")
            .json(&body)
            .send()
    };
    assert_eq!(post(order_body()).await.unwrap().status(), 201);
    // The same request, keys in another order: the same order.
    let same = json!({"items": [{"qty": 2, "sku": "sku-1"}], "customer_id": "c-1"});
    assert_eq!(post(same).await.unwrap().status(), 200);
    let other = json!({"customer_id": "c-1", "items": [{"sku": "sku-1", "qty": 3}]});
    let error = error_of(post(other).await.unwrap(), 422, "idempotency_key_reused").await;
    assert_eq!(error["field"], "Idempotency-Key");
    assert_eq!(count(&api.db.pool, "select count(*) from orders").await, 1);
}

#[tokio::test]
async fn the_event_stream_follows_the_order_to_fulfilled_and_ends() {
    let api = start(&[]).await;
    let client = reqwest::Client::new();
    let order = api.create_order(&client).await;
    let response = api.open_events(&client, &order).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.bytes_stream();
    let mut text = String::new();
    while !text.contains("\n\n") {
        text.push_str(std::str::from_utf8(&body.next().await.unwrap().unwrap()).unwrap());
    }
    assert!(text.starts_with("event: status\ndata: "), "{text}");
    assert!(text.contains(r#""status":"pending""#), "{text}");

    // The real worker fulfils the order, and its handler's notification is
    // what moves the stream on.
    let Some(worker_bin) = testkit::workspace_binary("worker") else {
        return;
    };
    let worker = Service::spawn(
        &worker_bin,
        &[
            ("DATABASE_URL", api.db.url.clone()),
            ("OPS_LISTEN_ADDR", ANY_PORT.to_owned()),
            ("WORK_TIME", "0s".to_owned()),
            ("WORKER_KINDS", FulfilOrder::KIND.to_owned()),
        ],
    );
    worker
        .wait_for_message("worker ready", Duration::from_secs(10))
        .await;
    let fulfilled_at = Instant::now();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .expect("the stream ends after the final event")
    {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(text.contains(r#""status":"fulfilled""#), "{text}");
    // Sooner than the 2 s poll: the notification carried it.
    assert!(
        fulfilled_at.elapsed() < Duration::from_millis(1500),
        "{:?}",
        fulfilled_at.elapsed()
    );
}

/// Which side of the create statement the connection to the database is
/// cut on.
enum Cut {
    AfterTheStatement,
    BeforeTheStatement,
}

/// Creates an order through an api whose connection to the database is cut
/// once, as `cut` says, on the create statement. Expects 201, one order
/// with its two jobs, and `logged` in the api's log.
async fn create_through_a_cut_connection(cut: Cut, logged: &str) {
    let db = TestDb::new().await;
    let (proxy, proxied) = testkit::TcpProxy::in_front_of(&db.url).await;
    let api = common::start_on(db, &[("DATABASE_URL", &proxied)]).await;
    // The customer is a parameter of the statement, so the proxy finds it.
    let customer = "customer-whose-create-is-cut";
    match cut {
        Cut::AfterTheStatement => proxy.cut_after_next_statement_with(customer.as_bytes()),
        Cut::BeforeTheStatement => proxy.cut_before_next_statement_with(customer.as_bytes()),
    }
    let response = reqwest::Client::new()
        .post(format!("{}/v1/orders", api.base))
        .json(&json!({"customer_id": customer, "items": [{"sku": "sku-1", "qty": 2}]}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response.headers().get("retry-after").cloned();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body} (Retry-After: {retry_after:?})");
    assert_eq!(count(&api.db.pool, "select count(*) from orders").await, 1);
    let jobs = count(&api.db.pool, "select count(*) from jobs").await;
    assert_eq!(jobs, 2, "the order's two jobs, once each");
    api.service
        .wait_for_message(logged, Duration::from_secs(1))
        .await;
}

/// The connection drops right after the api sends its create statement:
/// the database runs it and commits, and the api never hears. It runs the
/// statement again with the same order id, which finds the order there, and
/// answers 201: a "503, retry" would make a client without an
/// Idempotency-Key create the order twice.
#[tokio::test]
async fn a_commit_whose_answer_is_lost_is_answered_as_what_the_database_did() {
    create_through_a_cut_connection(
        Cut::AfterTheStatement,
        "the commit's answer was lost; it committed",
    )
    .await;
}

/// The connection drops as the api sends its create statement, before the
/// database has it: the api cannot tell this from the case above. Running
/// the statement again creates the order, once, with its jobs.
#[tokio::test]
async fn a_create_that_never_reached_the_database_is_run_again_once() {
    create_through_a_cut_connection(
        Cut::BeforeTheStatement,
        "the statement's answer was lost; it had not committed, and ran again",
    )
    .await;
}

/// A create cut by API_REQUEST_TIMEOUT may have committed. Without an
/// Idempotency-Key a retry could create the order twice, so the answer is
/// 500 `outcome_unknown` without Retry-After; with a key a retry is safe,
/// and the answer is 503 with Retry-After.
#[tokio::test]
async fn a_create_cut_by_the_request_timeout_says_retry_only_with_a_key() {
    let api = start(&[("API_REQUEST_TIMEOUT", "300ms")]).await;
    let mut locked = api.db.pool.begin().await.unwrap();
    sqlx::query("lock table orders in access exclusive mode")
        .execute(&mut *locked)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let create = |key: Option<&str>| {
        let mut request = client
            .post(format!("{}/v1/orders", api.base))
            .json(&order_body());
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send()
    };
    let without_key = create(None).await.unwrap();
    assert!(without_key.headers().get("retry-after").is_none());
    error_of(without_key, 500, "outcome_unknown").await;
    let with_key = create(Some("timeout-1")).await.unwrap();
    assert_eq!(with_key.headers()["retry-after"], "1");
    error_of(with_key, 503, "timeout").await;
    locked.rollback().await.unwrap();
}
