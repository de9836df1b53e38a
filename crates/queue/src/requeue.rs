//! Handing a running job back to `available` without it having failed: each
//! gives the attempt back, so none of them brings the job nearer to being
//! discarded. Fenced like every ending (crate::finish).

use std::time::Duration;

use serde_json::Value;
use sqlx::PgExecutor;

use crate::finish::{
    Backoff, MAX_BACKOFF_EXPONENT, backoff_run_at, changed, ending_update, fenced,
};
use crate::job::Fence;

/// Hands a job back at once: for work that acknowledged cancellation, so it
/// did not fail, it was interrupted. Never call this while the job's code
/// may still be running.
///
/// `cursor`: where a job that works in steps got to, when its last steps
/// recorded it lazily ([`crate::checkpoint`] is the other way); the next
/// attempt starts there. `None` keeps the cursor the job has.
pub async fn release<'c>(
    executor: impl PgExecutor<'c>,
    fence: Fence,
    cursor: Option<&Value>,
) -> Result<bool, sqlx::Error> {
    let statement = ending_update!(
        "state = 'available', attempt = attempt - 1, run_at = now(),
         cursor = coalesce($3, cursor)"
    );
    changed(fenced(statement, fence).bind(cursor), executor).await
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
    let statement = ending_update!(
        "state = 'available', attempt = attempt - 1, snoozes = snoozes + 1,
         run_at = now() + make_interval(secs => $3)",
        "and snoozes < $4"
    );
    let statement = fenced(statement, fence)
        .bind(after.as_secs_f64())
        .bind(max_snoozes);
    changed(statement, executor).await
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
    let statement = ending_update!(concat!(
        "state = 'available', attempt = attempt - 1, last_error = $5, run_at = ",
        backoff_run_at!("lease")
    ));
    let statement = fenced(statement, fence)
        .bind(backoff.base.as_secs_f64())
        .bind(backoff.max.as_secs_f64())
        .bind(error)
        .bind(MAX_BACKOFF_EXPONENT);
    changed(statement, executor).await
}
