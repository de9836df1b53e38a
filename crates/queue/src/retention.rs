//! Deleting finished jobs once they are old enough, so that the table holds
//! what is running and waiting plus a bounded tail of history, however long
//! the queue runs. (At 20 000 jobs/s, keeping everything is 70 million rows
//! an hour.)
//!
//! Deletes go in small batches, each its own short statement, oldest first
//! through a partial index per finished state: no long lock, no full-table
//! scan, and a sweep that stops halfway has still done useful work.

use std::time::Duration;

use sqlx::PgPool;

/// Distinguishes the sweeper's advisory lock from any other in the database.
const SWEEP_LOCK_KEY: i64 = 0x6a6f_6273_7377_6570; // "jobsswep"

/// How long finished jobs are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `QUEUE_RETAIN_COMPLETED`: long enough to look into a recent job.
    pub completed: Duration,
    /// `QUEUE_RETAIN_DISCARDED`: longer, because a discarded job is one a
    /// person may need to retry by hand.
    pub discarded: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            completed: Duration::from_secs(24 * 3600),
            discarded: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub completed: u64,
    pub discarded: u64,
}

/// One batch for one state. The state is a literal, not a parameter, so that
/// even a generic plan matches the partial index's predicate.
macro_rules! sweep_batch {
    ($state:literal) => {
        concat!(
            "with sweeper as (select pg_try_advisory_xact_lock($1) as is_only_one),
             gone as (
                 delete from jobs where id = any(array(
                     select jobs.id from jobs, sweeper
                     where sweeper.is_only_one and jobs.state = '",
            $state,
            "' and jobs.finished_at < now() - make_interval(secs => $2)
                     order by jobs.finished_at
                     limit $3
                     for update of jobs skip locked
                 ))
                 returning 1
             )
             select (select is_only_one from sweeper), (select count(*) from gone)"
        )
    };
}

/// Deletes finished jobs older than `retention`, `batch` rows per statement,
/// until none is left. One process at a time sweeps: each batch takes a
/// transaction-scoped advisory lock, and a sweep that finds it taken stops
/// and returns `None`, leaving the work to whoever holds it.
pub async fn sweep(
    pool: &PgPool,
    retention: Retention,
    batch: u32,
) -> Result<Option<Swept>, sqlx::Error> {
    let mut swept = Swept::default();
    for (sql, keep, count) in [
        (
            sweep_batch!("completed"),
            retention.completed,
            &mut swept.completed,
        ),
        (
            sweep_batch!("discarded"),
            retention.discarded,
            &mut swept.discarded,
        ),
    ] {
        loop {
            let (is_only_one, deleted): (bool, i64) = sqlx::query_as(sql)
                .bind(SWEEP_LOCK_KEY)
                .bind(keep.as_secs_f64())
                .bind(i64::from(batch))
                .fetch_one(pool)
                .await?;
            if !is_only_one {
                return Ok(None);
            }
            *count += deleted as u64;
            if deleted < i64::from(batch) {
                break;
            }
        }
    }
    Ok(Some(swept))
}
