//! What the queue looks like from outside, for metrics and alerts.
//!
//! The cost must not grow with history: the table may hold a day of finished
//! jobs. So the live states are counted exactly through their partial
//! indexes (their size is the backlog), and the finished states are read
//! from the planner's estimate of their retention indexes, which autovacuum
//! and ANALYZE keep current, instead of being counted row by row.
//!
//! Waiting is told per kind. A kind that no running worker claims (retired,
//! left out of `WORKER_KINDS`, or added by a release still rolling out)
//! waits on purpose; one age over all kinds would then say "workers are
//! stuck" for ever while every kind they run is served.

use std::collections::BTreeMap;

use sqlx::PgExecutor;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    /// Jobs per state, every state present: `available` and `running` exact,
    /// `completed` and `discarded` estimated (0 before the first ANALYZE).
    pub depth: BTreeMap<String, i64>,
    /// Runnable jobs per kind, for every kind that has any, whether or not
    /// some worker runs it.
    pub runnable_by_kind: BTreeMap<String, KindBacklog>,
}

/// One kind's runnable jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Deserialize)]
pub struct KindBacklog {
    /// How many are runnable now.
    pub jobs: i64,
    /// Seconds the oldest of them has waited since it became runnable.
    pub oldest_age_secs: f64,
}

/// One round trip; cheap enough to sample every few seconds.
pub async fn stats<'c>(executor: impl PgExecutor<'c>) -> Result<QueueStats, sqlx::Error> {
    let (available, running, completed, discarded, by_kind): (
        i64,
        i64,
        i64,
        i64,
        sqlx::types::Json<BTreeMap<String, KindBacklog>>,
    ) = sqlx::query_as(
        "select
                 (select count(*) from jobs where state = 'available'),
                 (select count(*) from jobs where state = 'running'),
                 (select greatest(reltuples, 0)::bigint from pg_class
                  where oid = 'jobs_completed_idx'::regclass),
                 (select greatest(reltuples, 0)::bigint from pg_class
                  where oid = 'jobs_discarded_idx'::regclass),
                 (select coalesce(jsonb_object_agg(kind, jsonb_build_object(
                              'jobs', jobs, 'oldest_age_secs', greatest(oldest_age_secs, 0))), '{}')
                  from (select kind, count(*) as jobs,
                               extract(epoch from now() - min(run_at))::float8 as oldest_age_secs
                        from jobs
                        where state = 'available' and run_at <= now()
                        group by kind) as kinds)",
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
        runnable_by_kind: by_kind.0,
    })
}
