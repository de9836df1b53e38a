//! Order status changes, heard once per process and fanned out to every
//! event stream.
//!
//! The worker's `fulfil_order` handler sends `pg_notify('order_status',
//! order_id)` in the transaction that fulfils the order. One LISTEN
//! connection per process (not per stream) keeps a thousand open streams
//! from taking a thousand database connections. A notification is only a
//! hint: streams also poll, so a notification lost while the listener
//! reconnects costs latency, never the final event.

use std::time::Duration;

use domain::ORDER_STATUS_CHANNEL;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Enough for bursts; a stream that falls behind re-reads its order anyway.
const BUFFER: usize = 1024;

#[derive(Debug, Clone)]
pub struct OrderEvents {
    changed: broadcast::Sender<Uuid>,
}

impl OrderEvents {
    /// Starts listening. The listener holds one pooled connection until
    /// `stop` is cancelled, which must happen before the pool closes.
    pub async fn listen(
        pool: &PgPool,
        stop: CancellationToken,
    ) -> Result<(Self, JoinHandle<()>), sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(ORDER_STATUS_CHANNEL).await?;
        let (changed, _) = broadcast::channel(BUFFER);
        let task = tokio::spawn(relay(listener, changed.clone(), stop));
        Ok((Self { changed }, task))
    }

    /// Subscribe before reading the order's current state, so that a change
    /// committed in between is not missed.
    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.changed.subscribe()
    }
}

async fn relay(
    mut listener: PgListener,
    changed: broadcast::Sender<Uuid>,
    stop: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => break,
            next = listener.try_recv() => next,
        };
        match next {
            Ok(Some(notification)) => {
                if let Ok(id) = notification.payload().parse::<Uuid>() {
                    // No subscribers is fine: nobody is watching that order.
                    let _ = changed.send(id);
                }
            }
            // Reconnected: anything sent meanwhile is lost; the streams' polls
            // cover it.
            Ok(None) => tracing::warn!("order events listener reconnected"),
            Err(error) => {
                tracing::warn!(%error, "order events listener failed, retrying");
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}
