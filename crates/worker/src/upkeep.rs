//! The two background loops beside the jobs: the heartbeat that keeps our
//! leases, and the rescuer that returns other processes' expired ones.

use std::time::Duration;

use queue::Leases;
use tokio::time::{MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;

use crate::held::Held;
use crate::metrics::JobMetrics;

/// Renews every lease we hold in one statement per beat, and cancels the
/// work of any lease found lost. Runs until `stop`: through the drain and the
/// cancel phase, because a job still running must keep its lease.
pub async fn heartbeat(leases: Leases, held: Held, every: Duration, stop: CancellationToken) {
    let mut beat = interval(every);
    beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = beat.tick() => {}
            _ = stop.cancelled() => return,
        }
        match leases.heartbeat(&held.leases()).await {
            Ok(lost) => {
                for (id, lease) in lost {
                    tracing::warn!(job_id = id, lease, "lease lost; cancelling the job");
                    held.cancel_lost(id, lease);
                }
            }
            Err(error) => tracing::warn!(%error, "heartbeat failed; retrying next beat"),
        }
    }
}

/// Rescues expired leases every `every`. Any number of workers run this; the
/// statement itself makes sure only one at a time does the work.
pub async fn rescue(leases: Leases, every: Duration, metrics: JobMetrics, stop: CancellationToken) {
    let mut tick = interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        match leases.rescue().await {
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
