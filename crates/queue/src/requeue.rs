//! Handing a running job back to `available` without it having failed: each
//! gives the attempt back, so none of them brings the job nearer to being
//! discarded. Fenced like every ending (crate::finish).

use std::time::Duration;

use sqlx::PgExecutor;

use crate::finish::{Backoff, MAX_BACKOFF_EXPONENT, backoff_run_at};
use crate::job::Fence;

/// Hands a job back at once: for work that acknowledged cancellation, so it
/// did not fail, it was interrupted. Never call this while the job's code
/// may still be running.
pub async fn release<'c>(executor: impl PgExecutor<'c>, fence: Fence) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update jobs set state = 'available', attempt = attempt - 1, run_at = now(),
                         locked_by = null, lease_expires_at = null
         where id = $1 and lease = $2 and state = 'running'",
    )
    .bind(fence.id.0)
    .bind(fence.claim)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Runs the job again after `after`, its attempt given back: the handler
/// found it too early (a dependency not ready, a rate limit), not broken.
/// At most `max_snoozes` times per job, or a job that always snoozes would
/// never end. `false` when nothing changed: the job has snoozed
/// `max_snoozes` times already, or the lease was no longer ours. Record the
/// attempt as failed then ([`crate::fail`]), which is itself fenced.
pub async fn snooze<'c>(
    executor: impl PgExecutor<'c>,
    fence: Fence,
    after: Duration,
    max_snoozes: i32,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update jobs set state = 'available', attempt = attempt - 1, snoozes = snoozes + 1,
                         run_at = now() + make_interval(secs => $3),
                         locked_by = null, lease_expires_at = null
         where id = $1 and lease = $2 and state = 'running' and snoozes < $4",
    )
    .bind(fence.id.0)
    .bind(fence.claim)
    .bind(after.as_secs_f64())
    .bind(max_snoozes)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Hands a job back after a backoff that grows with its claims, its attempt
/// given back, with `error` in `last_error`: for a job this process cannot
/// run but another may, such as a payload written by a newer release
/// (docs/migrations.md). `false` when the lease was no longer ours.
pub async fn hand_back<'c>(
    executor: impl PgExecutor<'c>,
    fence: Fence,
    error: &str,
    backoff: Backoff,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(concat!(
        "update jobs set state = 'available', attempt = attempt - 1, run_at = ",
        backoff_run_at!("lease"),
        ", last_error = $5, locked_by = null, lease_expires_at = null
         where id = $1 and lease = $2 and state = 'running'"
    ))
    .bind(fence.id.0)
    .bind(fence.claim)
    .bind(backoff.base.as_secs_f64())
    .bind(backoff.max.as_secs_f64())
    .bind(error)
    .bind(MAX_BACKOFF_EXPONENT)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}
