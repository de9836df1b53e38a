//! What every service binary in this workspace shares, so that `api` and
//! `worker` start, report and stop the same way and their `main.rs` files
//! read as nothing but their own start-up and shutdown order.

pub mod args;
pub mod db;
pub mod exit;
pub mod hooks;
pub mod invalid_indexes;
pub mod ops;
pub mod schema;
pub mod secrets;
pub mod shutdown_metrics;

pub use args::{DatabaseArgs, LogArgs, ShutdownArgs, ShutdownMode, parse_args_or_exit};
