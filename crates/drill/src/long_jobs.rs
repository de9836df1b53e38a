//! The drill's long jobs: exports of the example domain, started through
//! the api as the load begins, each many drain budgets long, so the
//! rollouts come faster than the jobs end. Judged from the database: every
//! one completed, each step's effect (its batch's row) recorded exactly
//! once, and no attempt spent, so none was rescued by lease expiry.
//!
//! A run's long jobs are the exports of customers whose names carry its
//! key prefix, like its orders.

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// How many long jobs a run starts, and how long each is.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub jobs: u32,
    /// Steps per job: its customer's orders, exported one per batch.
    pub steps: u32,
}

/// Per run, what the database says of its long jobs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LongJobs {
    pub jobs: u64,
    pub completed: u64,
    pub steps_expected: u64,
    /// Batch rows written: each step's effect.
    pub steps_recorded: u64,
    /// Rows beyond one per batch: effects a step had more than once.
    pub steps_repeated: u64,
    /// Batches of completed exports with no row.
    pub steps_missing: u64,
    /// Per job, claims after its first: how often it was resumed.
    pub resumptions: Vec<u64>,
    pub resumptions_total: u64,
    /// Jobs whose lease expired and was rescued (`last_error` says so).
    pub rescued: u64,
    /// Attempts spent beyond each job's first. An interruption gives its
    /// attempt back, so only a rescue or a failure spends one.
    pub attempts_spent: u64,
    /// Rollouts the jobs ran through; with any, a run that resumed no job
    /// proved nothing about them.
    pub rollouts: u32,
}

/// For each job, a customer with `plan.steps` orders, created through the
/// api with keys of the run, then an export of them in batches of one.
/// Returns the exports' ids.
pub async fn start(
    http: &reqwest::Client,
    base: &str,
    key_prefix: &str,
    plan: Plan,
) -> anyhow::Result<Vec<Uuid>> {
    let mut exports = Vec::new();
    for job in 0..plan.jobs {
        let customer_id = format!("{key_prefix}export-{job}");
        for order in 0..plan.steps {
            let response = http
                .post(format!("{base}/v1/orders"))
                .header("idempotency-key", format!("{customer_id}-{order}"))
                .json(&json!({ "customer_id": customer_id, "items": [{ "sku": "export", "qty": 1 }] }))
                .send()
                .await
                .context("cannot create a long job's orders")?;
            if !response.status().is_success() {
                bail!("creating a long job's order: {}", response.status());
            }
        }
        let response = http
            .post(format!("{base}/v1/exports"))
            .json(&json!({ "customer_id": customer_id, "batch_size": 1 }))
            .send()
            .await
            .context("cannot start a long job")?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            bail!(
                "the api has no /v1/exports (a release before long jobs): run with --long-jobs 0"
            );
        }
        if !response.status().is_success() {
            bail!("starting a long job: {}", response.status());
        }
        let export: serde_json::Value = response.json().await?;
        let id = export["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .context("the export has no id")?;
        exports.push(id);
    }
    Ok(exports)
}

/// The run's exports, with their job and their batches.
const LONG_JOBS: &str = "with run_exports as (
         select e.id, e.status, e.batch_size,
                (select count(*) from orders o
                 where o.customer_id = e.customer_id and o.created_at <= e.created_at) as orders
         from exports e where e.customer_id like $1
     ), batches as (
         select b.export_id, count(*) as written, count(distinct b.batch) as distinct_batches
         from export_batches b join run_exports r on r.id = b.export_id
         group by b.export_id
     )
     select r.status = 'completed' as completed,
            ceil(r.orders::numeric / r.batch_size)::int8 as expected,
            coalesce(b.written, 0) as written,
            coalesce(b.distinct_batches, 0) as distinct_batches,
            coalesce(j.lease, 0) as claims,
            coalesce(j.attempt, 0) as attempt,
            coalesce(j.last_error like 'lease expired%', false) as rescued
     from run_exports r
     left join batches b on b.export_id = r.id
     left join jobs j on j.kind = 'export_orders' and j.payload->>'export_id' = r.id::text
     order by r.id";

/// Long jobs of the run still waiting or running.
const UNFINISHED: &str = "select count(*) from jobs j
     join exports e on j.payload->>'export_id' = e.id::text
     where j.kind = 'export_orders' and e.customer_id like $1
       and j.state in ('available', 'running')";

#[derive(Debug, sqlx::FromRow)]
struct Row {
    completed: bool,
    expected: i64,
    written: i64,
    distinct_batches: i64,
    claims: i64,
    attempt: i32,
    rescued: bool,
}

/// `None` when the run started no long job, or the database has no
/// `exports` (a release before them).
pub async fn check(pool: &PgPool, key_prefix: &str) -> anyhow::Result<Option<LongJobs>> {
    if !has_exports(pool).await? {
        return Ok(None);
    }
    let rows: Vec<Row> = sqlx::query_as(LONG_JOBS)
        .bind(format!("{key_prefix}%"))
        .fetch_all(pool)
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut long = LongJobs::default();
    for row in rows {
        long.jobs += 1;
        long.completed += u64::from(row.completed);
        long.steps_expected += count(row.expected);
        long.steps_recorded += count(row.written);
        long.steps_repeated += count(row.written - row.distinct_batches);
        if row.completed {
            long.steps_missing += count(row.expected - row.distinct_batches);
        }
        long.resumptions.push(count(row.claims - 1));
        long.rescued += u64::from(row.rescued);
        long.attempts_spent += count(i64::from(row.attempt) - 1);
    }
    long.resumptions_total = long.resumptions.iter().sum();
    Ok(Some(long))
}

pub async fn unfinished(pool: &PgPool, key_prefix: &str) -> sqlx::Result<u64> {
    if !has_exports(pool).await? {
        return Ok(0);
    }
    let count: i64 = sqlx::query_scalar(UNFINISHED)
        .bind(format!("{key_prefix}%"))
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

async fn has_exports(pool: &PgPool) -> sqlx::Result<bool> {
    crate::db::has_table(pool, "exports").await
}

/// The verdict's reasons about the long jobs; none when all is well.
pub fn reasons(long: &LongJobs) -> Vec<String> {
    let mut reasons = Vec::new();
    if long.completed < long.jobs {
        reasons.push(format!(
            "{} of {} long jobs did not complete",
            long.jobs - long.completed,
            long.jobs
        ));
    }
    if long.steps_repeated > 0 {
        reasons.push(format!(
            "{} long-job steps had their effect more than once",
            long.steps_repeated
        ));
    }
    if long.steps_missing > 0 {
        reasons.push(format!(
            "{} steps of completed long jobs have no effect",
            long.steps_missing
        ));
    }
    if long.attempts_spent > 0 {
        reasons.push(format!(
            "{} long-job attempts were spent ({} jobs rescued by lease expiry, the rest failed)",
            long.attempts_spent, long.rescued
        ));
    }
    if long.rollouts > 0 && long.resumptions_total == 0 {
        reasons.push(
            "no long job was interrupted by a rollout, so the run proves nothing about them: raise --long-job-steps"
                .to_owned(),
        );
    }
    reasons
}
