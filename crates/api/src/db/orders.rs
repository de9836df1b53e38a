//! Orders in PostgreSQL, and their jobs.

use std::time::Duration;

use domain::{FulfilOrder, SendReceipt};
use queue::NewJob;
use sqlx::postgres::PgArguments;
use sqlx::types::Json;
use sqlx::{Arguments as _, PgPool};
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

/// The order and its jobs in one statement, so in one round trip: its
/// implicit transaction commits the order, the jobs and their notify
/// together, or none of them. The jobs go in only when the order did
/// (`lateral`, on the order's row, so not at all without one). `on
/// conflict do nothing` covers both the idempotency key and the id, which
/// the api chooses: a statement whose answer was lost can be run again
/// with the same id, and does nothing if the first one committed.
pub(crate) const CREATE: &str = concat!(
    "with new_order as (
         insert into orders (id, customer_id, items, idempotency_key, request_hash)
         values ($1, $2, $3, $4, $5)
         on conflict do nothing
         returning ",
    order_columns!(),
    "
     )
     select new_order.*, enqueued.jobs
     from new_order
     cross join lateral (
         select count(*) as jobs
         from queue_enqueue($6, $7, $8, $9, $10, $11, $12)
         where new_order.id is not null
     ) as enqueued"
);

/// A commit that got no answer: how long to ask the database what became
/// of it before answering that nobody knows.
const COMMIT_FATE_WITHIN: Duration = Duration::from_secs(2);

pub(crate) const FIND_BY_KEY: &str = concat!(
    "select ",
    order_columns!(),
    ", request_hash from orders where idempotency_key = $1"
);
pub(crate) const FIND: &str = concat!("select ", order_columns!(), " from orders where id = $1");

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
    /// A new order, committed together with its jobs.
    New(Order),
    /// The key was used before with the same request: its order.
    Replayed(Order),
    /// The key was used before with a different request.
    KeyReused,
    /// The statement got no answer, and the database could not say what
    /// became of it in time: the order may exist. Not a safe retry without
    /// the same key.
    OutcomeUnknown,
}

/// Inserts the order and enqueues its jobs in one statement ([`CREATE`]):
/// both commit or neither does.
///
/// With an idempotency key, `on conflict do nothing` lets the database
/// decide who owns the key. A concurrent insert of the same key waits on the
/// unique index until the first transaction ends; if it committed, this one
/// inserts nothing and reads the winner's order, which the next statement's
/// snapshot can see; if it rolled back, this one inserts.
///
/// `traceparent` (W3C) goes into the job rows, so that the worker's span
/// for the job continues the request's trace.
pub async fn create(
    pool: &PgPool,
    order: &CreateOrder,
    idempotency_key: Option<&str>,
    traceparent: Option<String>,
) -> Result<Created, sqlx::Error> {
    let request_hash = order.request_hash();
    let order_id = Uuid::new_v4();
    let jobs = [
        NewJob::new(&FulfilOrder { order_id }).trace_context(traceparent.clone()),
        NewJob::new(&SendReceipt {
            order_id,
            customer_id: Some(order.customer_id.clone()),
        })
        .trace_context(traceparent),
    ];
    let insert = Insert {
        order_id,
        order,
        idempotency_key,
        request_hash: &request_hash,
        jobs: &jobs,
    };
    match insert.run(pool).await {
        Ok(Some(row)) => Ok(Created::New(row.into())),
        Ok(None) => existing(pool, idempotency_key, &request_hash).await,
        // The connection failed while the statement was out: it may have
        // committed, and answering "503, retry" then would make a client
        // without a key create the order twice. The database knows which.
        Err(error) if answer_lost(&error) => insert.fate(pool, &error).await,
        Err(error) => Err(error),
    }
}

/// One order's [`CREATE`], which can be run again.
struct Insert<'a> {
    order_id: Uuid,
    order: &'a CreateOrder,
    idempotency_key: Option<&'a str>,
    request_hash: &'a str,
    jobs: &'a [NewJob],
}

impl Insert<'_> {
    /// The order's row, or `None` when the key or the id was taken.
    async fn run(&self, pool: &PgPool) -> Result<Option<OrderRow>, sqlx::Error> {
        let mut arguments = PgArguments::default();
        let added = (|| {
            arguments.add(self.order_id)?;
            arguments.add(&self.order.customer_id)?;
            arguments.add(Json(&self.order.items))?;
            arguments.add(self.idempotency_key)?;
            arguments.add(self.request_hash)
        })();
        added.map_err(sqlx::Error::Encode)?;
        queue::add_job_arguments(&mut arguments, self.jobs)?;
        sqlx::query_as_with(CREATE, arguments)
            .fetch_optional(pool)
            .await
    }

    /// What became of a statement whose answer was lost, asked by running
    /// it again on another connection, for at most [`COMMIT_FATE_WITHIN`].
    /// The same id makes that safe: if the first committed, the second
    /// conflicts on the id and inserts nothing; if the first is still
    /// running, the second waits on the id's index entry until it ends; if
    /// it rolled back, the second creates the order.
    async fn fate(&self, pool: &PgPool, lost: &sqlx::Error) -> Result<Created, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + COMMIT_FATE_WITHIN;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match service::db::bounded(left, self.run(pool)).await {
                Ok(Some(row)) => {
                    tracing::warn!(error = %lost, order_id = %row.id, "the statement's answer was lost; it had not committed, and ran again");
                    return Ok(Created::New(row.into()));
                }
                Ok(None) => {
                    let mine = find(pool, self.order_id).await?;
                    return match mine {
                        Some(order) => {
                            tracing::warn!(error = %lost, order_id = %order.id, "the commit's answer was lost; it committed");
                            Ok(Created::New(order))
                        }
                        // Another request's order holds the key.
                        None => existing(pool, self.idempotency_key, self.request_hash).await,
                    };
                }
                Err(error) if !answer_lost(&error) && !service::db::is_unavailable(&error) => {
                    return Err(error);
                }
                Err(_) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(error = %lost, order_id = %self.order_id, "the statement's answer was lost, and its fate is unknown");
                return Ok(Created::OutcomeUnknown);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Errors after which a statement may or may not have committed: the
/// connection failed while it was out. A pool timeout or an error the
/// server answered with (a `Database` error) means it did not.
fn answer_lost(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed
    )
}

/// The order that holds `idempotency_key`: the same request's
/// ([`Created::Replayed`]) or another's ([`Created::KeyReused`]).
async fn existing(
    pool: &PgPool,
    idempotency_key: Option<&str>,
    request_hash: &str,
) -> Result<Created, sqlx::Error> {
    // Only a key conflict inserts nothing, so the key is set here.
    let row: OrderRowWithHash = sqlx::query_as(FIND_BY_KEY)
        .bind(idempotency_key)
        .fetch_one(pool)
        .await?;
    Ok(if row.request_hash.as_deref() == Some(request_hash) {
        Created::Replayed(row.order.into())
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
