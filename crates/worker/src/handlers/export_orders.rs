//! The example's long job: export a customer's orders, one batch per step.
//!
//! A big customer's export takes many drain budgets, so at a deploy it is
//! interrupted between batches, handed back with its cursor, and finished
//! by another worker. Each batch's record commits in the same transaction
//! as the cursor that moves past it (`JobContext::checkpoint`), so however
//! often the export is interrupted, each batch is recorded once; the last
//! step marks the export completed with the job.

use std::time::Duration;

use domain::ExportOrders;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Done, JobContext, JobError, JobHandler, KindOptions};

#[derive(Debug, Clone, Copy)]
pub struct ExportOrdersHandler {
    /// How long writing out one batch takes (`EXPORT_BATCH_TIME`), standing
    /// in for the upload of one part of the file.
    pub batch_time: Duration,
    /// `EXPORT_CHECKPOINTS`. `false` is the drill's negative control, an
    /// export written the way a job without steps would be: each batch
    /// commits without a cursor, the drain budget is waited out, and an
    /// interrupted export starts over, recording its batches again.
    pub checkpoints: bool,
}

/// Where an export got to: read back by the next attempt, perhaps of
/// another release, so its shape is a contract like a payload's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportCursor {
    /// Batches recorded.
    pub batches: i64,
    /// The last order recorded; the next batch starts after it.
    pub after: Option<Uuid>,
}

impl JobHandler for ExportOrdersHandler {
    type Job = ExportOrders;

    /// No timeout: an export's length is its customer's size, and it stops
    /// when asked at its next step boundary.
    fn options(&self) -> KindOptions {
        KindOptions {
            timeout: None,
            ..KindOptions::default()
        }
    }

    async fn run(
        &self,
        ExportOrders { export_id }: ExportOrders,
        ctx: JobContext,
    ) -> Result<Done, JobError> {
        let export: Option<(String, i64, OffsetDateTime)> =
            sqlx::query_as("select customer_id, batch_size, created_at from exports where id = $1")
                .bind(export_id)
                .fetch_optional(&ctx.pool)
                .await?;
        let Some((customer_id, batch_size, created_at)) = export else {
            return Err(JobError::discard(format!(
                "export {export_id} does not exist"
            )));
        };
        let mut cursor = match self.checkpoints {
            true => ctx.cursor::<ExportCursor>()?.unwrap_or_default(),
            false => ExportCursor::default(),
        };
        // The orders the export was asked for: the customer's, up to its
        // creation, in id order from the cursor on.
        loop {
            let stop = match self.checkpoints {
                true => {
                    ctx.step_boundary()?;
                    &ctx.interrupt
                }
                false => &ctx.cancel,
            };
            let batch: Vec<Uuid> = sqlx::query_scalar(
                "select id from orders
                 where customer_id = $1 and created_at <= $2 and ($3::uuid is null or id > $3)
                 order by id limit $4",
            )
            .bind(&customer_id)
            .bind(created_at)
            .bind(cursor.after)
            .bind(batch_size)
            .fetch_all(&ctx.pool)
            .await?;
            let (Some(&first), Some(&last)) = (batch.first(), batch.last()) else {
                let mut tx = ctx.pool.begin().await?;
                sqlx::query(
                    "update exports set status = 'completed', finished_at = now() where id = $1",
                )
                .bind(export_id)
                .execute(&mut *tx)
                .await?;
                return ctx.complete(tx).await;
            };
            // The batch's upload, outside any transaction: at least once.
            tokio::select! {
                _ = tokio::time::sleep(self.batch_time) => {}
                _ = stop.cancelled() => return Err(JobError::Cancelled),
            }
            let mut tx = ctx.pool.begin().await?;
            sqlx::query(
                "insert into export_batches (export_id, batch, orders, first_order, last_order)
                 values ($1, $2, $3, $4, $5)",
            )
            .bind(export_id)
            .bind(cursor.batches)
            .bind(batch.len() as i64)
            .bind(first)
            .bind(last)
            .execute(&mut *tx)
            .await?;
            cursor = ExportCursor {
                batches: cursor.batches + 1,
                after: Some(last),
            };
            match self.checkpoints {
                true => ctx.checkpoint(tx, &cursor).await?,
                false => tx.commit().await?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use testkit::TestDb;
    use tokio_util::sync::CancellationToken;

    use serde_json::Value;

    use super::*;
    use crate::tally::Ending;
    use crate::testing::{work_next, work_next_with};

    const EXPORT: ExportOrdersHandler = ExportOrdersHandler {
        batch_time: Duration::ZERO,
        checkpoints: true,
    };

    async fn export(pool: &sqlx::PgPool, orders: i32, batch_size: i32) -> Uuid {
        crate::testing::new_export(pool, "big", orders, batch_size).await
    }

    /// Rows in `export_batches`, and distinct batches among them.
    async fn batches(pool: &sqlx::PgPool) -> (i64, i64) {
        sqlx::query_as("select count(*), count(distinct batch) from export_batches")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    /// Cancels `cancel` once `batches` batches are recorded: a deploy
    /// arriving mid-export.
    fn interrupt_after(pool: &sqlx::PgPool, batches: i64, cancel: &CancellationToken) {
        let (pool, cancel) = (pool.clone(), cancel.clone());
        tokio::spawn(async move {
            while super::tests::batches(&pool).await.0 < batches {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            cancel.cancel();
        });
    }

    #[tokio::test]
    async fn an_export_records_each_batch_once_then_completes_with_its_job() {
        let db = TestDb::new().await;
        let export_id = export(&db.pool, 5, 2).await;
        let worked = work_next(&db.pool, EXPORT).await;
        assert_eq!(
            (worked.ending, worked.state.as_str()),
            (Ending::Finished, "completed")
        );
        assert_eq!(batches(&db.pool).await, (3, 3));
        let status: String = sqlx::query_scalar("select status from exports where id = $1")
            .bind(export_id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(status, "completed");
    }

    #[tokio::test]
    async fn an_interrupted_export_resumes_from_its_cursor_and_records_each_batch_once() {
        let db = TestDb::new().await;
        export(&db.pool, 8, 1).await;
        let paced = ExportOrdersHandler {
            batch_time: Duration::from_millis(50),
            ..EXPORT
        };
        let cancel = CancellationToken::new();
        interrupt_after(&db.pool, 2, &cancel);
        let first = work_next_with(&db.pool, paced, cancel).await;
        assert_eq!(
            (first.ending, first.state.as_str(), first.attempt),
            (Ending::Interrupted, "available", 0),
            "released at once, its attempt given back"
        );
        let (recorded, _) = batches(&db.pool).await;
        let cursor: Value = sqlx::query_scalar("select cursor from jobs where id = $1")
            .bind(first.id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(
            cursor["batches"], recorded,
            "the cursor is the last committed batch"
        );

        let second = work_next(&db.pool, paced).await;
        assert_eq!((second.ending, second.attempt), (Ending::Finished, 1));
        assert_eq!(batches(&db.pool).await, (8, 8), "no batch recorded twice");
    }

    /// The negative control of the test above: the same export without
    /// checkpoints starts over, and records its first batches again.
    #[tokio::test]
    async fn without_checkpoints_an_interrupted_export_records_batches_again() {
        let db = TestDb::new().await;
        export(&db.pool, 8, 1).await;
        let naive = ExportOrdersHandler {
            batch_time: Duration::from_millis(50),
            checkpoints: false,
        };
        let cancel = CancellationToken::new();
        interrupt_after(&db.pool, 2, &cancel);
        let first = work_next_with(&db.pool, naive, cancel).await;
        assert_eq!(
            first.ending,
            Ending::Released,
            "not a job that works in steps"
        );
        work_next(&db.pool, naive).await;
        let (rows, distinct) = batches(&db.pool).await;
        assert_eq!(distinct, 8);
        assert!(
            rows > 8,
            "{rows} rows: the first batches were recorded again"
        );
    }

    #[tokio::test]
    async fn a_step_whose_lease_was_lost_rolls_back_and_records_nothing() {
        let db = TestDb::new().await;
        export(&db.pool, 3, 1).await;
        let pool = db.pool.clone();
        // Rescued and claimed elsewhere while its first batch uploads.
        tokio::spawn(async move {
            testkit::wait_until(
                &pool,
                "the export to run",
                Duration::from_secs(10),
                "select count(*) from jobs where state = 'running'",
            )
            .await;
            sqlx::query("update jobs set lease = lease + 1")
                .execute(&pool)
                .await
                .unwrap();
        });
        let slow = ExportOrdersHandler {
            batch_time: Duration::from_secs(2),
            ..EXPORT
        };
        let worked = work_next(&db.pool, slow).await;
        assert_eq!(worked.ending, Ending::LeaseLost);
        assert_eq!(batches(&db.pool).await, (0, 0), "the step rolled back");
    }

    #[tokio::test]
    async fn a_cursor_this_release_cannot_decode_hands_the_job_back() {
        let db = TestDb::new().await;
        export(&db.pool, 1, 1).await;
        sqlx::query(r#"update jobs set cursor = '{"batches": 1, "after": null, "part": 3}'"#)
            .execute(&db.pool)
            .await
            .unwrap();
        let worked = work_next(&db.pool, EXPORT).await;
        assert_eq!((worked.ending, worked.attempt), (Ending::HandedBack, 0));
        assert!(
            worked
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("cursor")),
            "{:?}",
            worked.last_error
        );
        assert_eq!(batches(&db.pool).await, (0, 0));
    }
}
