//! Orders in PostgreSQL, and their jobs.

use std::time::Duration;

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
     returning txid_current() as xid, ",
    order_columns!()
);

/// A commit that got no answer: how long to ask the database what became
/// of it before answering that nobody knows.
const COMMIT_FATE_WITHIN: Duration = Duration::from_secs(2);

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
    /// The commit got no answer, and the database could not say what
    /// became of it in time: the order may exist. Not a safe retry without
    /// the same key.
    OutcomeUnknown,
}

/// The new order's row, and its transaction's id, whose fate
/// `txid_status` tells when the commit gets no answer.
#[derive(Debug, sqlx::FromRow)]
struct InsertedRow {
    xid: i64,
    #[sqlx(flatten)]
    order: OrderRow,
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
    let inserted: Option<InsertedRow> = sqlx::query_as(INSERT)
        .bind(&order.customer_id)
        .bind(Json(&order.items))
        .bind(idempotency_key)
        .bind(&request_hash)
        .fetch_optional(&mut *tx)
        .await?;

    if let Some(InsertedRow { xid, order: row }) = inserted {
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
        // A commit whose answer is lost (the connection dropped during it)
        // may have committed. Answering "503, retry" then would make a
        // client without a key create the order twice; the database knows
        // which it was.
        return match tx.commit().await {
            Ok(()) => Ok(Created::New(row.into())),
            Err(error) => match commit_fate(pool, xid).await {
                Some(true) => {
                    tracing::warn!(%error, order_id = %row.id, "the commit's answer was lost; it committed");
                    Ok(Created::New(row.into()))
                }
                Some(false) => Err(error),
                None => {
                    tracing::warn!(%error, order_id = %row.id, "the commit's answer was lost, and its fate is unknown");
                    Ok(Created::OutcomeUnknown)
                }
            },
        };
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

/// Whether transaction `xid` committed (`Some(true)`) or aborted
/// (`Some(false)`), asked on another connection until it has ended, for at
/// most [`COMMIT_FATE_WITHIN`]; `None` if that did not tell.
async fn commit_fate(pool: &PgPool, xid: i64) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + COMMIT_FATE_WITHIN;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let status = sqlx::query_scalar::<_, Option<String>>("select txid_status($1)")
            .bind(xid)
            .fetch_one(pool);
        match service::db::bounded(left, status).await {
            Ok(Some(status)) if status == "committed" => return Some(true),
            Ok(Some(status)) if status == "aborted" => return Some(false),
            // "in progress": the server is still ending it.
            Ok(Some(_)) | Err(_) => {}
            // Too old to know: cannot happen to a transaction this recent.
            Ok(None) => return None,
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
