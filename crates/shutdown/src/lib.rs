//! Owns a process's shutdown: it listens for signals, flips readiness at once,
//! runs the registered hooks in a fixed order of phases, each inside its own
//! budget and all inside the grace deadline, and hands back a report that the
//! process turns into its exit code.
//!
//! `tokio-util` gives cancellation trees and task trackers, and axum and
//! hyper give graceful connection shutdown, but none of them has a timeout,
//! a reserved budget for flushing telemetry, or a readiness flip. This crate
//! adds exactly that, and knows nothing about HTTP or databases.
//!
//! # The timeline
//!
//! ```text
//! signal                                                      grace_period
//!   |                                                                 |
//!   | announce: readiness false, STOPPING=1, log deadline             |
//!   |---- delay ----|-- stop intake + drain --|cancel|flush|close|margin|
//!   |  keep serving | close listeners, wait   | abort|     |      |      |
//!   |  (endpoints   | for in-flight work;     | what | OTLP| pools|      |
//!   |   propagate)  | ends early when idle    | rem. |     |      |      |
//!   0          drain_delay          drain_delay+drain              grace-margin
//! ```
//!
//! * The drain budget is whatever remains once every other setting is
//!   subtracted from the grace period; a configuration that leaves none is
//!   refused by [`ShutdownBuilder::build`] with the arithmetic in the error.
//! * cancel, flush and close each get their own budget from the moment they
//!   start. Earlier phases can end early and leave slack, but they can never
//!   eat into these: even a stuck drain leaves time to flush and close.
//! * A hook that outlives its budget is aborted and reported `timed_out`.
//! * A panicking hook is reported `failed`; the later phases still run.
//! * Repeated signals: the second skips what remains of delay and drain, the
//!   third exits at once with 130 (SIGINT) or 143 (SIGTERM).
//!   See the `trigger` module for why this must be explicit.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use shutdown::{Phase, Shutdown, ShutdownConfig};
//! use tokio_util::task::TaskTracker;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = ShutdownConfig {
//!     grace_period: Duration::from_secs(2),
//!     drain_delay: Duration::ZERO,
//!     flush_timeout: Duration::from_millis(200),
//!     close_timeout: Duration::from_millis(200),
//!     margin: Duration::from_millis(100),
//!     cancel_timeout: Duration::from_millis(100),
//! };
//! let mut shutdown = Shutdown::builder(config).without_signals().build().unwrap();
//! let handle = shutdown.handle();
//!
//! // Work in flight, which the drain phase waits for.
//! let requests = TaskTracker::new();
//! requests.spawn(tokio::time::sleep(Duration::from_millis(50)));
//!
//! shutdown.on(Phase::Drain, "requests", move |ctx| async move {
//!     requests.close();
//!     requests.wait().await;
//!     ctx.counts().set("requests_drained", 1);
//!     Ok(())
//! });
//!
//! handle.readiness().mark_started();
//! handle.trigger("example");
//! assert!(!handle.readiness().is_ready(), "readiness flips at the trigger");
//!
//! let report = shutdown.run().await;
//! assert_eq!(report.exit_code(), 0);
//! assert_eq!(report.phase(Phase::Drain).unwrap().hooks[0].counts["requests_drained"], 1);
//! # }
//! ```

mod config;
mod coordinator;
mod hook;
mod notify;
mod panic;
mod phase;
mod readiness;
mod report;
mod runner;
mod table;
mod trigger;

pub use config::{Budget, BudgetError, ShutdownConfig};
pub use coordinator::{BuildError, PhaseObserver, Shutdown, ShutdownBuilder, ShutdownHandle};
pub use hook::{Counts, HookContext, HookError};
pub use panic::panic_message;
pub use phase::Phase;
pub use readiness::Readiness;
pub use report::{HookReport, Outcome, Overall, PhaseReport, Report};

#[cfg(test)]
mod tests;
