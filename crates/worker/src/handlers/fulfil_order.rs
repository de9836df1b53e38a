//! The example handler: fulfil an order exactly once in effect.
//!
//! Delivery is at-least-once, so the same order may be attempted twice (a
//! worker dies after the effect but before its lease is renewed...). The
//! effect is still applied once because it commits in the same transaction
//! as the fenced completion: a stale attempt's completion fails, and its
//! `fulfil_count + 1` rolls back with it.

use std::time::Duration;

use domain::{FulfilOrder, ORDER_STATUS_CHANNEL};

use super::{Done, JobContext, JobError};

pub async fn fulfil(
    FulfilOrder { order_id }: FulfilOrder,
    ctx: JobContext,
    work_time: Duration,
) -> Result<Done, JobError> {
    // The work itself: it stops when asked to, which is what lets a shutdown
    // release this job instead of waiting out its lease.
    tokio::select! {
        _ = tokio::time::sleep(work_time) => {}
        _ = ctx.cancel.cancelled() => return Err(JobError::Cancelled),
    }

    let mut tx = ctx.pool.begin().await?;
    let updated = sqlx::query(
        "update orders set status = 'fulfilled', fulfilled_at = now(), fulfil_count = fulfil_count + 1
         where id = $1",
    )
    .bind(order_id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(JobError::Failed(format!("order {order_id} does not exist")));
    }
    // Delivered only if the transaction commits, that is, with the
    // completion.
    sqlx::query("select pg_notify($1, $2)")
        .bind(ORDER_STATUS_CHANNEL)
        .bind(order_id.to_string())
        .execute(&mut *tx)
        .await?;
    ctx.complete(tx).await
}
