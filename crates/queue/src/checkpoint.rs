//! Where a job that works in steps got to: its cursor, which the next
//! attempt, on any worker, starts from.
//!
//! Written in the transaction of the step's own effect and fenced like an
//! ending, so the step commits with its cursor or not at all, and an attempt
//! whose lease is gone changes nothing. That is what makes each step's
//! database effect happen once across any number of interruptions. Unlike an
//! ending it keeps the lease: the attempt goes on with its next step.

use serde_json::Value;
use sqlx::PgExecutor;

use crate::finish::{changed, fenced, fenced_update};
use crate::job::Fence;

/// Records `cursor` as the job's, on the attempt's fence. Run it in the
/// transaction that wrote the step's effect, then commit: `false` when the
/// lease was no longer the attempt's, and then that transaction must roll
/// back, the step's effect with it.
///
/// The row stays locked until the transaction ends, so neither the rescuer
/// nor a heartbeat touches it meanwhile (both skip locked rows): keep the
/// step's transaction short.
pub async fn checkpoint<'c>(
    executor: impl PgExecutor<'c>,
    fence: Fence,
    cursor: &Value,
) -> Result<bool, sqlx::Error> {
    let statement = fenced_update!("cursor = $3");
    changed(fenced(statement, fence).bind(cursor), executor).await
}
