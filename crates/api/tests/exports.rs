//! Exports through the real `api` process: the export and its long job
//! commit together, and bad input gets a 4xx naming the field.

mod common;

use serde_json::{Value, json};

use common::{error_of, start};
use domain::ExportOrders;
use uuid::Uuid;

#[tokio::test]
async fn a_post_starts_the_export_and_its_job_together_and_a_get_follows_it() {
    let api = start(&[]).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/v1/exports", api.base))
        .json(&json!({ "customer_id": "c-9", "batch_size": 25 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let export: Value = response.json().await.unwrap();
    assert_eq!(
        (
            &export["status"],
            &export["batch_size"],
            &export["batches_written"]
        ),
        (&json!("running"), &json!(25), &json!(0))
    );
    let export_id: Uuid = export["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(location, format!("/v1/exports/{export_id}"));
    assert_eq!(
        testkit::enqueued::<ExportOrders>(&api.db.pool).await,
        [ExportOrders { export_id }]
    );

    sqlx::query("insert into export_batches values ($1, 0, 25, $2, $2)")
        .bind(export_id)
        .bind(Uuid::nil())
        .execute(&api.db.pool)
        .await
        .unwrap();
    let fetched: Value = client
        .get(format!("{}{location}", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["batches_written"], 1);
    assert_eq!(fetched["customer_id"], "c-9");

    let missing = client
        .get(format!("{}/v1/exports/{}", api.base, Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_bad_export_gets_a_422_naming_its_field_and_starts_nothing() {
    let api = start(&[]).await;
    let client = reqwest::Client::new();
    for (body, field) in [
        (json!({ "customer_id": " " }), "customer_id"),
        (json!({ "customer_id": "c", "batch_size": 0 }), "batch_size"),
        (
            json!({ "customer_id": "c", "batch_size": 1001 }),
            "batch_size",
        ),
    ] {
        let response = client
            .post(format!("{}/v1/exports", api.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let error = error_of(response, 422, "invalid_request").await;
        assert_eq!(error["field"], field, "{body}");
    }
    assert!(
        testkit::enqueued::<ExportOrders>(&api.db.pool)
            .await
            .is_empty()
    );
}
