//! The create path's floor for any HTTP service: axum and a sqlx pool, with
//! no middleware, no idempotency check and no drain, answering
//! `POST /v1/orders` with the writes of `crates/api/bench/creates.sql` (the
//! order and its two jobs in one prepared statement, and the notify).
//! `crates/api/bench/creates.sh` measures it beside the api and pgbench:
//! what the api loses against pgbench that a bare service loses too is the
//! price of answering over HTTP on the database's cores, not the api's.
//!
//! `DATABASE_URL=… cargo run --release -p api --example bare_creates -- 127.0.0.1:8082 10`

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

/// creates.sql, with the request's values bound instead of constants.
const CREATE: &str = "with new_order as (
        insert into orders (id, customer_id, items, idempotency_key, request_hash)
        values (gen_random_uuid(), $1, $2, $3, 'bare')
        returning id
    ), new_jobs as (
        insert into jobs (kind, payload, max_attempts, run_at)
        select kind, jsonb_build_object('order_id', new_order.id), 25, now()
        from new_order, (values ('fulfil_order'), ('send_receipt')) as kinds(kind)
        returning id
    ), notified as (
        select pg_notify('jobs_available', '') from (select from new_jobs limit 1) as any_job
    )
    select id from new_order, (select count(*) from notified) as notify";

#[derive(Deserialize)]
struct CreateOrder {
    customer_id: String,
    items: serde_json::Value,
}

async fn create(
    State(pool): State<PgPool>,
    headers: HeaderMap,
    Json(order): Json<CreateOrder>,
) -> Result<(StatusCode, Json<serde_json::Value>), StatusCode> {
    let key = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .ok_or(StatusCode::BAD_REQUEST)?;
    let id: Uuid = sqlx::query_scalar(CREATE)
        .bind(&order.customer_id)
        .bind(&order.items)
        .bind(key)
        .fetch_one(&pool)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8082".to_owned());
    let connections = args.next().map_or(Ok(10), |n| n.parse())?;
    let url = std::env::var("DATABASE_URL")?;
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .min_connections(connections)
        .connect(&url)
        .await?;
    let app = Router::new()
        .route("/v1/orders", post(create))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bare_creates listening on {addr}");
    axum::serve(listener, app).await?;
    Ok(())
}
