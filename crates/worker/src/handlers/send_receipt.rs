//! The example's second job kind: send an order's receipt, once in effect.
//!
//! Sending is simulated by a row in `receipts`; like `fulfil_order`, the
//! effect commits in the same transaction as the fenced completion, so a
//! stale attempt's send rolls back with its failed completion.

use domain::SendReceipt;

use super::{Done, JobContext, JobError};

pub async fn send(receipt: SendReceipt, ctx: JobContext) -> Result<Done, JobError> {
    if ctx.cancel.is_cancelled() {
        return Err(JobError::Cancelled);
    }
    let mut tx = ctx.pool.begin().await?;
    sqlx::query(
        "insert into receipts (order_id) values ($1)
         on conflict (order_id) do update set sent_count = receipts.sent_count + 1",
    )
    .bind(receipt.order_id)
    .execute(&mut *tx)
    .await?;
    ctx.complete(tx).await
}
