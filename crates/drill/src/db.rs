//! What the database says about this run's orders, once the queue is done:
//! the half of the verdict no HTTP status can show.
//!
//! A run's orders are the ones whose Idempotency-Key carries its prefix, so
//! the checks hold in a database shared with other traffic.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

const POLL_INTERVAL: Duration = Duration::from_millis(250);

const PRESENT: &str = "select count(*) from orders where id = any($1)";
const BAD_FULFIL_COUNT: &str =
    "select count(*) from orders where idempotency_key like $1 and fulfil_count <> 1";
const PENDING: &str =
    "select count(*) from orders where idempotency_key like $1 and status = 'pending'";
/// Every job of the run's orders, whatever its kind: a release may add kinds.
const JOBS_IN_STATE: &str = "select count(*) from jobs j
     join orders o on j.payload->>'order_id' = o.id::text
     where o.idempotency_key like $1 and j.state = any($2)";
const JOBS_BY_KIND: &str = "select j.kind, j.state, count(*) from jobs j
     join orders o on j.payload->>'order_id' = o.id::text
     where o.idempotency_key like $1 group by j.kind, j.state";
/// Jobs whose last attempt met a payload its worker could not decode (the
/// worker's own words in `last_error`): in an upgrade that changes a
/// payload, release N's workers meeting release N+1's jobs.
const UNDECODABLE: &str = "select count(*) from jobs j
     join orders o on j.payload->>'order_id' = o.id::text
     where o.idempotency_key like $1 and j.last_error like 'payload cannot be decoded%'";
/// Receipts sent other than once: `send_receipt` is exactly-once in effect.
const BAD_RECEIPT_COUNT: &str = "select count(*) from receipts r
     join orders o on r.order_id = o.id
     where o.idempotency_key like $1 and r.sent_count <> 1";

#[derive(Debug, Clone, Default, Serialize)]
pub struct DbCheck {
    pub orders_present: u64,
    pub orders_bad_fulfil_count: u64,
    pub orders_pending: u64,
    /// Jobs still available or running after the queue was given time.
    pub jobs_stuck: u64,
    /// Jobs that ran out of attempts.
    pub jobs_discarded: u64,
    /// Jobs a worker could not decode, by their `last_error`: handed back
    /// for a release that can, or, with `WORKER_UNDECODABLE=discard`, lost.
    pub jobs_undecodable: u64,
    /// The run's jobs by kind, then by state: in an upgrade, whether the
    /// new release's kind ran, or waits for workers that know it.
    pub jobs_by_kind: BTreeMap<String, BTreeMap<String, u64>>,
    /// Receipts sent more than once.
    pub receipts_bad_count: u64,
}

/// The LIKE pattern for a key prefix. Prefixes are ours (`drill-<hex>-`),
/// free of `%` and `_`, so no escaping is needed.
fn pattern(key_prefix: &str) -> String {
    format!("{key_prefix}%")
}

/// Waits until none of the run's orders is pending and none of their jobs,
/// nor of its long jobs, is available or running; false if `within` ran
/// out first.
pub async fn wait_for_queue_drain(
    pool: &PgPool,
    key_prefix: &str,
    within: Duration,
) -> anyhow::Result<bool> {
    let deadline = Instant::now() + within;
    loop {
        let pending = count(pool, PENDING, key_prefix).await?;
        let queued = jobs_in(pool, key_prefix, &["available", "running"]).await?
            + crate::long_jobs::unfinished(pool, key_prefix).await?;
        if pending == 0 && queued == 0 {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

pub async fn check(
    pool: &PgPool,
    key_prefix: &str,
    acknowledged: &[Uuid],
) -> anyhow::Result<DbCheck> {
    let present: i64 = sqlx::query_scalar(PRESENT)
        .bind(acknowledged)
        .fetch_one(pool)
        .await?;
    Ok(DbCheck {
        orders_present: non_negative(present),
        orders_bad_fulfil_count: count(pool, BAD_FULFIL_COUNT, key_prefix).await?,
        orders_pending: count(pool, PENDING, key_prefix).await?,
        jobs_stuck: jobs_in(pool, key_prefix, &["available", "running"]).await?,
        jobs_discarded: jobs_in(pool, key_prefix, &["discarded"]).await?,
        jobs_undecodable: count(pool, UNDECODABLE, key_prefix).await?,
        jobs_by_kind: jobs_by_kind(pool, key_prefix).await?,
        receipts_bad_count: if has_table(pool, "receipts").await? {
            count(pool, BAD_RECEIPT_COUNT, key_prefix).await?
        } else {
            0
        },
    })
}

/// An external run may meet a release from before a table existed.
pub(crate) async fn has_table(pool: &PgPool, name: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("select to_regclass($1) is not null")
        .bind(name)
        .fetch_one(pool)
        .await
}

async fn jobs_by_kind(
    pool: &PgPool,
    key_prefix: &str,
) -> sqlx::Result<BTreeMap<String, BTreeMap<String, u64>>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(JOBS_BY_KIND)
        .bind(pattern(key_prefix))
        .fetch_all(pool)
        .await?;
    let mut by_kind: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (kind, state, count) in rows {
        by_kind
            .entry(kind)
            .or_default()
            .insert(state, non_negative(count));
    }
    Ok(by_kind)
}

async fn count(pool: &PgPool, query: &'static str, key_prefix: &str) -> sqlx::Result<u64> {
    let count: i64 = sqlx::query_scalar(query)
        .bind(pattern(key_prefix))
        .fetch_one(pool)
        .await?;
    Ok(non_negative(count))
}

async fn jobs_in(pool: &PgPool, key_prefix: &str, states: &[&str]) -> sqlx::Result<u64> {
    let count: i64 = sqlx::query_scalar(JOBS_IN_STATE)
        .bind(pattern(key_prefix))
        .bind(states)
        .fetch_one(pool)
        .await?;
    Ok(non_negative(count))
}

fn non_negative(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}
