//! Exports in PostgreSQL, and their jobs.

use domain::ExportOrders;
use queue::NewJob;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::{CreateExport, Export};

/// The columns an [`Export`] is read from: `e` is the export's row.
macro_rules! export_columns {
    () => {
        "e.id, e.customer_id, e.batch_size, e.status, e.created_at, e.finished_at,
         (select count(*) from export_batches b where b.export_id = e.id) as batches_written"
    };
}

#[derive(Debug, sqlx::FromRow)]
struct ExportRow {
    id: Uuid,
    customer_id: String,
    batch_size: i64,
    status: String,
    created_at: OffsetDateTime,
    finished_at: Option<OffsetDateTime>,
    batches_written: i64,
}

impl From<ExportRow> for Export {
    fn from(row: ExportRow) -> Self {
        Self {
            id: row.id,
            customer_id: row.customer_id,
            batch_size: u32::try_from(row.batch_size).unwrap_or(0),
            status: row.status,
            batches_written: u64::try_from(row.batches_written).unwrap_or(0),
            created_at: row.created_at,
            finished_at: row.finished_at,
        }
    }
}

/// Inserts the export and enqueues its job in one transaction.
pub async fn create(
    pool: &PgPool,
    export: &CreateExport,
    traceparent: Option<String>,
) -> Result<Export, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row: ExportRow = sqlx::query_as(concat!(
        "with e as (insert into exports (customer_id, batch_size) values ($1, $2) returning *)
         select ",
        export_columns!(),
        " from e"
    ))
    .bind(&export.customer_id)
    .bind(i64::from(export.batch_size))
    .fetch_one(&mut *tx)
    .await?;
    let job = NewJob::new(&ExportOrders { export_id: row.id }).trace_context(traceparent);
    queue::enqueue(&mut tx, &job).await?;
    tx.commit().await?;
    Ok(row.into())
}

pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<Export>, sqlx::Error> {
    let row: Option<ExportRow> = sqlx::query_as(concat!(
        "select ",
        export_columns!(),
        " from exports e where e.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Export::from))
}
