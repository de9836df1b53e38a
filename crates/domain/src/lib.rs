//! What the api and the worker must agree on, in one place: the job kinds
//! they exchange through the queue, with their payloads, and the channel
//! the worker tells the api's event streams on. A kind's string appears
//! here once; everything else names the type.
//!
//! This crate is the example domain. Replacing the domain means replacing
//! this crate's contents, the api's routes and the worker's handlers
//! (docs/extending.md).

mod bench;
mod exports;
mod kinds;
mod orders;
mod schedules;

pub use bench::Noop;
pub use exports::ExportOrders;
pub use kinds::DeclaredJob;
pub use orders::{FulfilOrder, ORDER_STATUS_CHANNEL, SendReceipt};
pub use schedules::{RecordOrderStats, SCHEDULES};

// Every job kind, once (`cargo xtask new job NAME` adds one): the worker
// does not compile until each has a handler.
kinds::declare_jobs! {
    FulfilOrder,
    SendReceipt,
    ExportOrders,
    RecordOrderStats,
    Noop,
}
