//! The example handler: fulfil an order exactly once in effect.
//!
//! Delivery is at-least-once, so the same order may be attempted twice (a
//! worker dies after the effect but before its lease is renewed...). The
//! effect is still applied once because it commits in the same transaction
//! as the fenced completion: a stale attempt's completion fails, and its
//! `fulfil_count + 1` rolls back with it.

use std::time::Duration;

use domain::{FulfilOrder, ORDER_STATUS_CHANNEL};

use crate::{Done, JobContext, JobError, JobHandler};

#[derive(Debug, Clone)]
pub struct FulfilOrderHandler {
    /// How long the work takes (`WORK_TIME`), standing in for a call out.
    pub work_time: Duration,
}

impl JobHandler for FulfilOrderHandler {
    type Job = FulfilOrder;

    async fn run(
        &self,
        FulfilOrder { order_id }: FulfilOrder,
        ctx: JobContext,
    ) -> Result<Done, JobError> {
        // The work itself: it stops when asked to, which is what lets a
        // shutdown release this job instead of waiting out its lease.
        tokio::select! {
            _ = tokio::time::sleep(self.work_time) => {}
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
            // Orders are never deleted while their jobs wait, so no retry
            // will find it.
            return Err(JobError::discard(format!(
                "order {order_id} does not exist"
            )));
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
}

#[cfg(test)]
mod tests {
    use testkit::TestDb;
    use uuid::Uuid;

    use super::*;
    use crate::handlers::tests::new_order;
    use crate::tally::Ending;
    use crate::testing::work;

    const FULFIL: FulfilOrderHandler = FulfilOrderHandler {
        work_time: Duration::ZERO,
    };

    #[tokio::test]
    async fn fulfils_once_and_completes_in_the_same_commit() {
        let db = TestDb::new().await;
        let order_id = new_order(&db.pool).await;
        let worked = work(&db.pool, FULFIL, &FulfilOrder { order_id }).await;
        assert_eq!(worked.ending, Ending::Finished);
        assert_eq!((worked.state.as_str(), worked.attempt), ("completed", 1));
        let (status, fulfilled): (String, i32) =
            sqlx::query_as("select status, fulfil_count from orders where id = $1")
                .bind(order_id)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!((status.as_str(), fulfilled), ("fulfilled", 1));
    }

    #[tokio::test]
    async fn an_order_that_does_not_exist_is_discarded_at_once_not_retried() {
        let db = TestDb::new().await;
        let order_id = Uuid::new_v4();
        let worked = work(&db.pool, FULFIL, &FulfilOrder { order_id }).await;
        assert_eq!(worked.ending, Ending::Discarded);
        assert_eq!((worked.state.as_str(), worked.attempt), ("discarded", 1));
        assert_eq!(
            worked.last_error.as_deref(),
            Some(format!("order {order_id} does not exist").as_str())
        );
    }
}
