//! The example's second job kind: send an order's receipt, once in effect.
//!
//! Sending is simulated by a row in `receipts`; like `fulfil_order`, the
//! effect commits in the same transaction as the fenced completion, so a
//! stale attempt's send rolls back with its failed completion.

use futures::FutureExt;
use serde::Deserialize;
use uuid::Uuid;

use super::{Done, Handler, JobContext, JobError};

pub const SEND_RECEIPT: &str = "send_receipt";

#[derive(Debug, Deserialize)]
struct SendReceipt {
    order_id: Uuid,
}

pub fn handler() -> Handler {
    std::sync::Arc::new(|ctx| send(ctx).boxed())
}

async fn send(ctx: JobContext) -> Result<Done, JobError> {
    let SendReceipt { order_id } = ctx.payload()?;
    if ctx.cancel.is_cancelled() {
        return Err(JobError::Cancelled);
    }
    let mut tx = ctx.pool.begin().await?;
    sqlx::query(
        "insert into receipts (order_id) values ($1)
         on conflict (order_id) do update set sent_count = receipts.sent_count + 1",
    )
    .bind(order_id)
    .execute(&mut *tx)
    .await?;
    if !queue::complete(&mut *tx, ctx.job.fence()).await? {
        tx.rollback().await?;
        return Err(JobError::LeaseLost);
    }
    tx.commit().await?;
    Ok(Done::Completed)
}
