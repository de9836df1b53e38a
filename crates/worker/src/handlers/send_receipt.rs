//! The example's second job kind: send an order's receipt, once in effect.
//!
//! Sending is simulated by a row in `receipts`; like `fulfil_order`, the
//! effect commits in the same transaction as the fenced completion, so a
//! stale attempt's send rolls back with its failed completion.
//!
//! It does not wait for the order's fulfilment: the api enqueues both at
//! once, so nearly every receipt would find its order pending, and a
//! `JobError::Snooze` there doubled the queue's work in the drill (5 865
//! snoozes for 5 924 orders).

use domain::SendReceipt;

use crate::{Done, JobContext, JobError, JobHandler};

#[derive(Debug, Clone, Copy)]
pub struct SendReceiptHandler;

impl JobHandler for SendReceiptHandler {
    type Job = SendReceipt;

    async fn run(&self, receipt: SendReceipt, ctx: JobContext) -> Result<Done, JobError> {
        if ctx.cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        let mut tx = ctx.pool.begin().await?;
        sqlx::query(
            "insert into receipts (order_id, customer_id) values ($1, $2)
             on conflict (order_id) do update set sent_count = receipts.sent_count + 1",
        )
        .bind(receipt.order_id)
        .bind(&receipt.customer_id)
        .execute(&mut *tx)
        .await?;
        ctx.complete(tx).await
    }
}

#[cfg(test)]
mod tests {
    use testkit::TestDb;

    use super::*;
    use crate::handlers::tests::new_order;
    use crate::tally::Ending;
    use crate::testing::work;

    #[tokio::test]
    async fn sends_the_receipt_once_and_completes_in_the_same_commit() {
        let db = TestDb::new().await;
        let order_id = new_order(&db.pool).await;
        let receipt = SendReceipt {
            order_id,
            customer_id: Some("c-1".to_owned()),
        };
        let sent = work(&db.pool, SendReceiptHandler, &receipt).await;
        assert_eq!(sent.ending, Ending::Finished);
        assert_eq!((sent.state.as_str(), sent.attempt), ("completed", 1));
        let (sent_count, customer_id): (i64, Option<String>) =
            sqlx::query_as("select sent_count, customer_id from receipts where order_id = $1")
                .bind(order_id)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!((sent_count, customer_id.as_deref()), (1, Some("c-1")));
    }
}
