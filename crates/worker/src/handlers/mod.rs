//! This service's handlers, one per declared job kind.
//!
//! A handler owns the meaning of a job; the runner owns its lease. Handlers
//! signal cancellation by returning [`JobError::Cancelled`](crate::JobError) —
//! only then is the job released for someone else, because only then is its
//! code known to have stopped.

mod export_orders;
mod fulfil_order;
mod noop;
mod record_order_stats;
mod send_receipt;

use std::time::Duration;

use domain::JobKind;

use crate::handler::{Handlers, Registered};

pub use export_orders::{ExportCursor, ExportOrdersHandler};
pub use fulfil_order::FulfilOrderHandler;
pub use noop::NoopHandler;
pub use record_order_stats::RecordOrderStatsHandler;
pub use send_receipt::SendReceiptHandler;

/// What the handlers need, built once at start-up (`main.rs`) from the
/// settings: a client a handler calls belongs here.
#[derive(Debug, Clone)]
pub struct Dependencies {
    /// `WORK_TIME`: how long `fulfil_order` works before it fulfils.
    pub work_time: Duration,
    /// `EXPORT_BATCH_TIME`: how long `export_orders` takes per batch.
    pub export_batch_time: Duration,
    /// `EXPORT_CHECKPOINTS`: `false` only as the drill's negative control.
    pub export_checkpoints: bool,
}

/// The handler for each kind. Exhaustive: a kind added to
/// [`domain::JobKind`] does not compile until it has a handler here.
pub fn handler_for(kind: JobKind, dependencies: &Dependencies) -> Registered {
    match kind {
        JobKind::FulfilOrder => Registered::new(FulfilOrderHandler {
            work_time: dependencies.work_time,
        }),
        JobKind::SendReceipt => Registered::new(SendReceiptHandler),
        JobKind::ExportOrders => Registered::new(ExportOrdersHandler {
            batch_time: dependencies.export_batch_time,
            checkpoints: dependencies.export_checkpoints,
        }),
        JobKind::RecordOrderStats => Registered::new(RecordOrderStatsHandler),
        JobKind::Noop => Registered::new(NoopHandler),
    }
}

/// Every declared kind's handler.
pub fn standard(dependencies: &Dependencies) -> Handlers {
    Handlers::declared(|kind| handler_for(kind, dependencies))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A pending order, as the api creates it.
    pub async fn new_order(pool: &sqlx::PgPool) -> uuid::Uuid {
        sqlx::query_scalar(
            "insert into orders (customer_id, items) values ('c', '[]') returning id",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    }

    /// Builds every handler: a handler registered under another kind's arm
    /// panics here, in the tests, rather than at start-up.
    #[test]
    fn every_declared_kind_is_claimed_by_its_own_handler() {
        let handlers = standard(&Dependencies {
            work_time: Duration::ZERO,
            export_batch_time: Duration::ZERO,
            export_checkpoints: true,
        });
        let mut declared: Vec<&str> = JobKind::ALL.iter().map(|kind| kind.name()).collect();
        declared.sort_unstable();
        assert_eq!(handlers.kinds(), declared);
        let only = handlers.only_if(&["noop".to_owned()]).unwrap();
        assert_eq!(only.kinds(), ["noop"]);
    }
}
