//! Everything that talks SQL, so handlers deal in orders, not rows.

pub mod exports;
pub mod order_events;
pub mod orders;

pub use order_events::OrderEvents;
