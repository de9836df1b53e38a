//! The worker as a library: the contract a job kind's code is written
//! against ([`JobHandler`], [`JobContext`], the answers in [`JobError`]),
//! this service's handlers, and [`testing`], which runs one job through its
//! real handler and the real fenced ending, in the test's own process.
//!
//! The rest is the `worker` binary's machinery (claiming, leases, the
//! shutdown's phases), public so `main.rs` can wire it, not as an API.

mod context;
mod handler;
pub mod handlers;
pub mod testing;

pub mod completer;
pub mod config;
pub mod held;
pub mod metrics;
pub mod operator;
pub mod pace;
pub mod runner;
pub mod scheduler;
pub mod steps;
pub mod tally;
pub mod upkeep;

pub use context::{Done, JobContext, JobError};
pub use handler::{Handlers, JobHandler, KindOptions, Registered};
