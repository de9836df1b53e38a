//! A job queue on PostgreSQL, in the shape River, graphile-worker, Oban, awa
//! and underway converge on, with three things done better than the first
//! two of them:
//!
//! * **Fenced completion.** Every claim bumps the job's claim counter (the
//!   `lease` column), and every completion, failure and release presents
//!   its [`Fence`], the job and the claim it holds. A
//!   worker whose lease expired and was handed to someone else can never
//!   overwrite the newer attempt.
//! * **Rescue after seconds.** Leases are short (30 s by default) and renewed
//!   by one heartbeat statement per process, so a job whose worker died is
//!   picked up again after its lease, not after an hour.
//! * **Nothing is released while its code runs.** [`release`] is for work
//!   that acknowledged cancellation; work that ignores it is left to its lease.
//!
//! Delivery is at-least-once, like every system above. Exactly-once *effects*
//! come from doing the job's write in the same transaction as its fenced
//! [`complete`]: if the lease was lost, the completion fails and the write
//! rolls back with it. Only that completion hands out a [`Completed`], so
//! "completed by me" cannot be claimed without it.
//!
//! Jobs are typed: a [`Job`] names its kind once and is its own payload.

/// Session settings for the connections a worker runs the queue on.
///
/// Every multi-row statement here picks its rows in a subquery and updates
/// them by `id = any(array(…))`, a plan that is right whatever the batch
/// size. Left to itself, PostgreSQL planned most statements afresh (its
/// generic plan guesses `limit $1` at a tenth of the table); on the cached
/// generic plan the queue runs faster (docs/benchmarks.md). A cached plan
/// is made from the statistics of its moment, so the claim, whose right
/// plan depends most on the backlog, does not rely on it: it runs in the
/// database function `queue_claim`, whose own settings leave one plan.
pub const SESSION_SETTINGS: &[(&str, &str)] = &[("plan_cache_mode", "force_generic_plan")];

mod checkpoint;
mod claimer;
mod enqueue;
mod finish;
mod floors;
mod job;
pub mod operator;
mod requeue;
mod retention;
pub mod schedule;
mod stats;

pub use checkpoint::checkpoint;
pub use claimer::{CLAIM, Claimer, Renewal, Rescued};
pub use enqueue::{CHANNEL, ENQUEUE, add_job_arguments, enqueue, enqueue_many};
pub use finish::{Backoff, Completed, FailOutcome, complete, complete_many, discard, fail};
pub use floors::ClaimFloors;
pub use job::{ClaimedJob, Fence, Job, JobId, NewJob};
pub use requeue::{hand_back, release, snooze};
pub use retention::{Retention, Swept, sweep};
pub use stats::{KindBacklog, QueueStats, stats};
