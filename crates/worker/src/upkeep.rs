//! The loops beside the jobs: the heartbeat that keeps our leases, the
//! rescuer that returns other processes' expired ones, and the sweeper that
//! deletes finished jobs past their retention.

use std::time::Duration;

use queue::{Claimer, Retention};
use service::db::bounded;
use tokio::time::{Instant, MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;

use crate::held::Held;
use crate::metrics::JobMetrics;

/// Renews every lease we hold in one statement per beat, writing with it
/// the cursors steps recorded lazily, and cancels the work of any lease
/// found lost. Runs until `stop`: through the drain and the
/// cancel phase, because a job still running must keep its lease.
///
/// A beat that gets no answer within `every` is abandoned, so a hung
/// connection cannot stop the renewals. And whatever the database does, a
/// job whose lease this process cannot prove it will still hold at the next
/// check is cancelled: once the lease expires the rescuer may hand the job
/// to another worker, and two copies must not run. The next check comes at
/// most two beats away (a beat, then a renewal that hangs to its bound).
pub async fn heartbeat(claimer: Claimer, held: Held, every: Duration, stop: CancellationToken) {
    let mut beat = interval(every);
    beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = beat.tick() => {}
            _ = stop.cancelled() => return,
        }
        let fences = held.fences();
        let unwritten = held.unwritten_cursors();
        let cursors: Vec<_> = unwritten
            .iter()
            .map(|(fence, _, cursor)| (*fence, cursor.clone()))
            .collect();
        let sent = Instant::now();
        match bounded(every, claimer.heartbeat_with_cursors(&fences, &cursors)).await {
            Ok(renewal) => {
                let written: Vec<_> = unwritten
                    .iter()
                    .filter(|(fence, _, _)| renewal.renewed.contains(fence))
                    .map(|(fence, step, _)| (*fence, *step))
                    .collect();
                held.cursors_written(&written);
                // Not a warning: most of these attempts ended between the
                // read of the fences and the answer (3 000 jobs gave 341),
                // and their own ending took the lease. An attempt whose
                // lease was really lost says so when its fenced ending is
                // refused (runner: `Ending::LeaseLost`).
                for fence in &renewal.lost {
                    if held.cancel_lost(*fence) {
                        tracing::debug!(
                            job_id = fence.id.0,
                            claim = fence.claim,
                            "lease not renewed; cancelling the attempt"
                        );
                    }
                }
                for (fence, by) in &renewal.cancel_requested {
                    if held.request_cancel(*fence, by) {
                        tracing::info!(
                            job_id = fence.id.0,
                            claim = fence.claim,
                            cancelled_by = %by,
                            "cancel requested; cancelling the job, which ends discarded"
                        );
                    }
                }
                held.renewed(&renewal.renewed, sent);
            }
            Err(error) => tracing::warn!(%error, "heartbeat failed; retrying next beat"),
        }
        for fence in held.cancel_lapsing(Instant::now() + 2 * every) {
            tracing::warn!(
                job_id = fence.id.0,
                claim = fence.claim,
                "lease not renewed in time and about to expire; cancelling the job, which another worker may now run"
            );
        }
    }
}

/// Rescues expired leases every `every`. Any number of workers run this; the
/// statement itself makes sure only one at a time does the work.
pub async fn rescue(
    claimer: Claimer,
    every: Duration,
    metrics: JobMetrics,
    stop: CancellationToken,
) {
    let mut tick = interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        match bounded(every, claimer.rescue()).await {
            Ok(rescued) if rescued.made_available + rescued.discarded > 0 => {
                metrics.rescued(rescued);
                tracing::info!(
                    made_available = rescued.made_available,
                    discarded = rescued.discarded,
                    "rescued expired leases"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "rescue failed; retrying next tick"),
        }
    }
}

/// How often finished jobs are swept: often enough that the table never
/// holds much more than the retention, rarely enough to cost nothing.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Rows per delete statement: each is short, so no lock is held for long.
const SWEEP_BATCH: u32 = 5_000;

/// Deletes finished jobs past `retention`: first right after start, then
/// every [`SWEEP_INTERVAL`]. Like the rescuer, any number of workers run
/// this and one at a time does the work.
pub async fn sweep(
    pool: sqlx::PgPool,
    retention: Retention,
    metrics: JobMetrics,
    stop: CancellationToken,
) {
    let mut tick = interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        // Each batch is short and under `statement_timeout`; the whole sweep
        // is bounded too, against a connection that stopped answering.
        let sweep = bounded(SWEEP_INTERVAL, queue::sweep(&pool, retention, SWEEP_BATCH));
        let swept = tokio::select! {
            swept = sweep => swept,
            _ = stop.cancelled() => return,
        };
        match swept {
            Ok(Some(swept)) => {
                metrics.swept(swept);
                if swept.completed + swept.discarded > 0 {
                    tracing::info!(
                        completed = swept.completed,
                        discarded = swept.discarded,
                        "deleted finished jobs past their retention"
                    );
                }
            }
            Ok(None) => tracing::debug!("another worker is sweeping"),
            Err(error) => tracing::warn!(%error, "sweep failed; retrying next interval"),
        }
    }
}
