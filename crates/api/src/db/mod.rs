//! Everything that talks SQL, so handlers deal in orders, not rows.

pub mod exports;
pub mod order_events;
pub mod orders;

pub use order_events::OrderEvents;

/// The statements every create and read runs, prepared on the pool's
/// connections before the api says it is ready (`service::db::warm`).
pub const HOT_STATEMENTS: &[&str] = &[
    orders::CREATE,
    orders::FIND_BY_KEY,
    orders::FIND,
    queue::ENQUEUE,
];
