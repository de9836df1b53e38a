//! What the queue looks like from outside, for metrics and alerts.
//!
//! The cost must not grow with history: the table may hold a day of finished
//! jobs. So the live states are counted exactly through their partial
//! indexes (their size is the backlog), and the finished states are read
//! from the planner's estimate of their retention indexes, which autovacuum
//! and ANALYZE keep current, instead of being counted row by row.

use std::collections::BTreeMap;

use sqlx::PgExecutor;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    /// Jobs per state, every state present: `available` and `running` exact,
    /// `completed` and `discarded` estimated (0 before the first ANALYZE).
    pub depth: BTreeMap<String, i64>,
    /// Seconds the oldest runnable job has waited; 0 when none waits.
    pub oldest_available_age_secs: f64,
    /// Runnable jobs per kind. A kind that stays here while no worker knows
    /// it is a job waiting for a release that has not rolled out.
    pub available_by_kind: BTreeMap<String, i64>,
}

/// One round trip; cheap enough to sample every few seconds.
pub async fn stats<'c>(executor: impl PgExecutor<'c>) -> Result<QueueStats, sqlx::Error> {
    #[allow(clippy::type_complexity)]
    let (available, running, oldest, completed, discarded, by_kind): (
        i64,
        i64,
        Option<f64>,
        i64,
        i64,
        sqlx::types::Json<BTreeMap<String, i64>>,
    ) = sqlx::query_as(
        "select
                 (select count(*) from jobs where state = 'available'),
                 (select count(*) from jobs where state = 'running'),
                 (select extract(epoch from now() - min(run_at))::float8
                  from jobs where state = 'available' and run_at <= now()),
                 (select greatest(reltuples, 0)::bigint from pg_class
                  where oid = 'jobs_completed_idx'::regclass),
                 (select greatest(reltuples, 0)::bigint from pg_class
                  where oid = 'jobs_discarded_idx'::regclass),
                 (select coalesce(jsonb_object_agg(kind, jobs), '{}')
                  from (select kind, count(*) as jobs from jobs
                        where state = 'available' and run_at <= now() group by kind) as kinds)",
    )
    .fetch_one(executor)
    .await?;
    let depth = [
        ("available", available),
        ("running", running),
        ("completed", completed),
        ("discarded", discarded),
    ]
    .into_iter()
    .map(|(state, count)| (state.to_owned(), count))
    .collect();
    Ok(QueueStats {
        depth,
        oldest_available_age_secs: oldest.unwrap_or(0.0).max(0.0),
        available_by_kind: by_kind.0,
    })
}
