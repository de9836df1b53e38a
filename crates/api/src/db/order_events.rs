//! Order status changes, heard once per process and fanned out to every
//! event stream.
//!
//! The worker's `FulfilOrder` handler sends
//! `pg_notify(ORDER_STATUS_CHANNEL, order_id)` in the transaction that
//! fulfils the order. One LISTEN
//! connection per process (not per stream) keeps a thousand open streams
//! from taking a thousand database connections, and the streams do not
//! poll: they read their order when told it may have changed. A
//! notification sent while the listener reconnects is lost, so a reconnect
//! tells every stream to read its order once ([`Change::Resync`]).

use std::time::Duration;

use domain::ORDER_STATUS_CHANNEL;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Enough for bursts; a stream that falls behind reads its order anyway.
const BUFFER: usize = 1024;

/// Between attempts to get the listener's connection back.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// A listener that has heard nothing this long proves it is alive with a
/// round trip. After a failover, a partition or a NAT's idle drop the
/// socket can stay open with nothing arriving, no error, and no resync,
/// and sqlx sets no client keepalive: without the ping every stream would
/// hear nothing until the process restarts.
const PING_EVERY: Duration = Duration::from_secs(5);
/// A ping unanswered this long means the connection is gone.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// What the streams are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// This order's status may have changed.
    Order(Uuid),
    /// The listener reconnected: any order may have changed meanwhile.
    Resync,
}

#[derive(Debug, Clone)]
pub struct OrderEvents {
    changed: broadcast::Sender<Change>,
}

impl OrderEvents {
    /// Starts listening. The listener holds one pooled connection until
    /// `stop` is cancelled, which must happen before the pool closes.
    pub async fn listen(
        pool: &PgPool,
        stop: CancellationToken,
    ) -> Result<(Self, JoinHandle<()>), sqlx::Error> {
        let listener = connect(pool).await?;
        let (changed, _) = broadcast::channel(BUFFER);
        let task = tokio::spawn(relay(pool.clone(), listener, changed.clone(), stop));
        Ok((Self { changed }, task))
    }

    /// Subscribe before reading the order's current state, so that a change
    /// committed in between is not missed.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changed.subscribe()
    }
}

async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(ORDER_STATUS_CHANNEL).await?;
    Ok(listener)
}

async fn ping(listener: &mut PgListener) -> Result<(), sqlx::Error> {
    sqlx::query("select 1").execute(listener).await.map(drop)
}

async fn relay(
    pool: PgPool,
    mut listener: PgListener,
    changed: broadcast::Sender<Change>,
    stop: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => break,
            next = listener.try_recv() => next,
            () = tokio::time::sleep(PING_EVERY) => {
                match service::db::bounded(PING_TIMEOUT, ping(&mut listener)).await {
                    Ok(()) => continue,
                    Err(error) => Err(error),
                }
            }
        };
        match next {
            Ok(Some(notification)) => {
                if let Ok(id) = notification.payload().parse::<Uuid>() {
                    // No subscribers is fine: nobody is watching that order.
                    let _ = changed.send(Change::Order(id));
                }
            }
            // The connection was lost, and sqlx has connected and listened
            // again before saying so (`eager_reconnect`, its default).
            // Whatever was notified in the gap is lost: every stream catches
            // up now, not before, or a read could miss a change committed
            // before the new connection listened.
            Ok(None) => {
                tracing::warn!("order events listener reconnected; streams catch up");
                let _ = changed.send(Change::Resync);
            }
            // Reconnecting failed, or the ping went unanswered: try again
            // with a listener of our own, and catch up once it listens.
            Err(error) => {
                tracing::warn!(%error, "order events listener failed; reconnecting");
                listener = loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(RECONNECT_AFTER) => {}
                    }
                    match connect(&pool).await {
                        Ok(listener) => break listener,
                        Err(error) => {
                            tracing::warn!(%error, "order events listener cannot reconnect; retrying")
                        }
                    }
                };
                let _ = changed.send(Change::Resync);
            }
        }
    }
}
