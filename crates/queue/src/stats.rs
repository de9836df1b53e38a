//! What the queue looks like from outside, for metrics and alerts.

use std::collections::BTreeMap;

use sqlx::PgExecutor;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    /// Jobs per state; states with no jobs are absent.
    pub depth: BTreeMap<String, i64>,
    /// Seconds the oldest runnable job has waited; 0 when none waits.
    pub oldest_available_age_secs: f64,
}

/// One round trip; cheap enough to sample every few seconds.
pub async fn stats<'c>(executor: impl PgExecutor<'c>) -> Result<QueueStats, sqlx::Error> {
    let rows: Vec<(String, i64, Option<f64>)> = sqlx::query_as(
        "select state, count(*),
                extract(epoch from now() - min(run_at) filter (where run_at <= now()))::float8
         from jobs group by state",
    )
    .fetch_all(executor)
    .await?;
    let mut stats = QueueStats::default();
    for (state, count, oldest) in rows {
        if state == "available" {
            stats.oldest_available_age_secs = oldest.unwrap_or(0.0).max(0.0);
        }
        stats.depth.insert(state, count);
    }
    Ok(stats)
}
