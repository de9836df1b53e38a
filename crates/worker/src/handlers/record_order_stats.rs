//! The example's periodic job: how many orders existed at a tick, one row
//! per tick in `order_stats`, written in the completion's transaction so a
//! tick's row exists once however often its job runs.

use domain::RecordOrderStats;

use crate::{Done, JobContext, JobError, JobHandler};

#[derive(Debug, Clone, Copy)]
pub struct RecordOrderStatsHandler;

impl JobHandler for RecordOrderStatsHandler {
    type Job = RecordOrderStats;

    async fn run(
        &self,
        RecordOrderStats { tick }: RecordOrderStats,
        ctx: JobContext,
    ) -> Result<Done, JobError> {
        if ctx.cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        let mut tx = ctx.pool.begin().await?;
        sqlx::query(
            "insert into order_stats (tick, orders)
             select $1::timestamptz, count(*) from orders where created_at <= $1::timestamptz",
        )
        .bind(tick.to_string())
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
    async fn records_the_orders_at_its_tick_once_with_its_completion() {
        let db = TestDb::new().await;
        new_order(&db.pool).await;
        let tick = jiff::Timestamp::now();
        let worked = work(
            &db.pool,
            RecordOrderStatsHandler,
            &RecordOrderStats { tick },
        )
        .await;
        assert_eq!(
            (worked.ending, worked.state.as_str()),
            (Ending::Finished, "completed")
        );
        let rows: Vec<(i64,)> = sqlx::query_as("select orders from order_stats")
            .fetch_all(&db.pool)
            .await
            .unwrap();
        assert_eq!(rows, [(1,)]);
    }
}
