//! Orders in PostgreSQL, and their jobs.

use domain::{FulfilOrder, SendReceipt};
use queue::NewJob;
use sqlx::PgPool;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::{CreateOrder, Item, Order, OrderStatus};

/// The columns an [`Order`] is read from, as a macro so the statements stay
/// `&'static str` (sqlx 0.9 asks for proof that dynamic SQL is safe).
macro_rules! order_columns {
    () => {
        "id, customer_id, items, status, created_at, fulfilled_at"
    };
}

const INSERT: &str = concat!(
    "insert into orders (customer_id, items, idempotency_key, request_hash)
     values ($1, $2, $3, $4)
     on conflict (idempotency_key) where idempotency_key is not null do nothing
     returning ",
    order_columns!()
);
const FIND_BY_KEY: &str = concat!(
    "select ",
    order_columns!(),
    ", request_hash from orders where idempotency_key = $1"
);
const FIND: &str = concat!("select ", order_columns!(), " from orders where id = $1");

#[derive(Debug, sqlx::FromRow)]
struct OrderRow {
    id: Uuid,
    customer_id: String,
    items: Json<Vec<Item>>,
    status: String,
    created_at: OffsetDateTime,
    fulfilled_at: Option<OffsetDateTime>,
}

impl From<OrderRow> for Order {
    fn from(row: OrderRow) -> Self {
        Self {
            id: row.id,
            customer_id: row.customer_id,
            items: row.items.0,
            status: OrderStatus::from_db(&row.status),
            created_at: row.created_at,
            fulfilled_at: row.fulfilled_at,
        }
    }
}

#[derive(Debug)]
pub enum Created {
    /// A new order, committed together with its job.
    New(Order),
    /// The key was used before with the same request: its order.
    Replayed(Order),
    /// The key was used before with a different request.
    KeyReused,
}

/// Inserts the order and enqueues its job in one transaction: both commit or
/// neither does.
///
/// With an idempotency key, `on conflict do nothing` lets the database
/// decide who owns the key. A concurrent insert of the same key waits on the
/// unique index until the first transaction ends; if it committed, this one
/// inserts nothing and reads the winner's order, which its new snapshot can
/// see; if it rolled back, this one inserts.
///
/// `traceparent` (W3C) goes into the job row, so that the worker's span for
/// the job continues the request's trace.
pub async fn create(
    pool: &PgPool,
    order: &CreateOrder,
    idempotency_key: Option<&str>,
    traceparent: Option<String>,
) -> Result<Created, sqlx::Error> {
    let request_hash = order.request_hash();
    let mut tx = pool.begin().await?;
    let inserted: Option<OrderRow> = sqlx::query_as(INSERT)
        .bind(&order.customer_id)
        .bind(Json(&order.items))
        .bind(idempotency_key)
        .bind(&request_hash)
        .fetch_optional(&mut *tx)
        .await?;

    if let Some(row) = inserted {
        let order_id = row.id;
        let jobs = [
            NewJob::new(&FulfilOrder { order_id }).trace_context(traceparent.clone()),
            NewJob::new(&SendReceipt {
                order_id,
                customer_id: Some(order.customer_id.clone()),
            })
            .trace_context(traceparent),
        ];
        queue::enqueue_many(&mut tx, &jobs).await?;
        tx.commit().await?;
        return Ok(Created::New(row.into()));
    }

    // Only a key conflict inserts nothing, so the key is set here.
    let (row, same_request): (OrderRow, bool) = {
        let row: OrderRowWithHash = sqlx::query_as(FIND_BY_KEY)
            .bind(idempotency_key)
            .fetch_one(&mut *tx)
            .await?;
        let same = row.request_hash.as_deref() == Some(request_hash.as_str());
        (row.order, same)
    };
    tx.commit().await?;
    Ok(if same_request {
        Created::Replayed(row.into())
    } else {
        Created::KeyReused
    })
}

#[derive(Debug, sqlx::FromRow)]
struct OrderRowWithHash {
    #[sqlx(flatten)]
    order: OrderRow,
    request_hash: Option<String>,
}

pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<Order>, sqlx::Error> {
    let row: Option<OrderRow> = sqlx::query_as(FIND).bind(id).fetch_optional(pool).await?;
    Ok(row.map(Order::from))
}
