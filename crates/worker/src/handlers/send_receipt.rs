//! The example's second job kind: send an order's receipt, once in effect,
//! and only once the order is fulfilled.
//!
//! Sending is simulated by a row in `receipts`; like `fulfil_order`, the
//! effect commits in the same transaction as the fenced completion, so a
//! stale attempt's send rolls back with its failed completion.

use std::time::Duration;

use domain::SendReceipt;

use crate::{Done, JobContext, JobError, JobHandler, KindOptions};

/// How long a receipt waits for its order's fulfilment before looking
/// again: a few `fulfil_order`s at the default `WORK_TIME`.
const NOT_FULFILLED_YET: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy)]
pub struct SendReceiptHandler;

impl JobHandler for SendReceiptHandler {
    type Job = SendReceipt;

    /// Ten minutes of waiting for the fulfilment give their attempts back:
    /// longer than a backlog the drill builds through its rollouts. An
    /// order still unfulfilled then is stuck, and its receipt spends its
    /// attempts and is discarded with the reason.
    fn options(&self) -> KindOptions {
        KindOptions {
            max_snoozes: 2400,
            ..KindOptions::default()
        }
    }

    async fn run(&self, receipt: SendReceipt, ctx: JobContext) -> Result<Done, JobError> {
        if ctx.cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        let mut tx = ctx.pool.begin().await?;
        // Locked, so a fulfilment cannot commit between this read and the
        // send.
        let status: Option<String> =
            sqlx::query_scalar("select status from orders where id = $1 for share")
                .bind(receipt.order_id)
                .fetch_optional(&mut *tx)
                .await?;
        match status.as_deref() {
            None => {
                return Err(JobError::discard(format!(
                    "order {} does not exist",
                    receipt.order_id
                )));
            }
            Some("fulfilled") => {}
            // Waiting is not failing: the attempt is given back.
            Some(_) => return Err(JobError::Snooze(NOT_FULFILLED_YET)),
        }
        sqlx::query(
            "insert into receipts (order_id) values ($1)
             on conflict (order_id) do update set sent_count = receipts.sent_count + 1",
        )
        .bind(receipt.order_id)
        .execute(&mut *tx)
        .await?;
        ctx.complete(tx).await
    }
}

#[cfg(test)]
mod tests {
    use domain::FulfilOrder;
    use testkit::TestDb;

    use super::*;
    use crate::handlers::tests::{FULFIL, new_order};
    use crate::tally::Ending;
    use crate::testing::{work, work_next};

    #[tokio::test]
    async fn snoozes_until_its_order_is_fulfilled_then_is_sent_once() {
        let db = TestDb::new().await;
        let order_id = new_order(&db.pool).await;
        let early = work(&db.pool, SendReceiptHandler, &SendReceipt { order_id }).await;
        assert_eq!(early.ending, Ending::Snoozed);
        assert_eq!(
            (early.state.as_str(), early.attempt, early.snoozes),
            ("available", 0, 1),
            "waiting spends no attempt"
        );
        assert!(early.run_at > time::OffsetDateTime::now_utc());

        work(&db.pool, FULFIL, &FulfilOrder { order_id }).await;
        sqlx::query("update jobs set run_at = now() where id = $1")
            .bind(early.id)
            .execute(&db.pool)
            .await
            .unwrap();
        let sent = work_next(&db.pool, SendReceiptHandler).await;
        assert_eq!(sent.ending, Ending::Finished);
        let sent_count: i64 =
            sqlx::query_scalar("select sent_count from receipts where order_id = $1")
                .bind(order_id)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(sent_count, 1);
    }
}
