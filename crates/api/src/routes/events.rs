//! `GET /v1/orders/{id}/events`: the order's status as server-sent events.
//!
//! The stream sends the current status at once, then each change; it ends
//! after the final status (`fulfilled`). It also ends, with a `retry:` hint
//! so the client reconnects, when the drain begins (an open stream must not
//! hold the shutdown up; axum's own graceful shutdown waits on such streams
//! forever) and when it reaches `API_EVENT_STREAM_LIFETIME`, so that
//! streams move to new replicas and none lives forever.
//!
//! A stream reads the database only when told its order may have changed:
//! by the process's one LISTEN (`db::order_events`), or by that listener's
//! reconnect, after which every stream reads its order once to catch up on
//! what the gap may have swallowed. It never polls.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use sqlx::PgPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::AppState;
use crate::db::order_events::Change;
use crate::db::orders;
use crate::error::{ApiError, ErrorBody};
use crate::extract::IdPath;
use crate::model::{Order, OrderStatus};

/// How soon a client whose stream was ended should reconnect.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// A catch-up read that takes longer is abandoned and tried again: its
/// connection may be one the network dropped without a word.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(2);
/// The first wait before another catch-up read; it doubles up to the max.
const CATCH_UP_RETRY: Duration = Duration::from_millis(250);
const CATCH_UP_RETRY_MAX: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// `API_MAX_EVENT_STREAMS`.
    pub max_streams: usize,
    /// `API_EVENT_STREAM_LIFETIME`.
    pub lifetime: Duration,
}

/// The open streams' slots: a stream holds one until it ends.
#[derive(Debug, Clone)]
pub struct EventStreams {
    slots: Arc<Semaphore>,
    lifetime: Duration,
}

impl EventStreams {
    pub fn new(limits: StreamLimits) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limits.max_streams)),
            lifetime: limits.lifetime,
        }
    }

    fn open(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_streams",
                "API_MAX_EVENT_STREAMS event streams are open, retry shortly",
            )
        })
    }
}

/// One server-sent event of the stream, as the OpenAPI document describes
/// it: the fields of the event, not a type the code builds.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // a schema only
pub struct OrderEvent {
    /// `status`, on every event that carries the order.
    #[schema(pattern = "^status$")]
    event: Option<String>,
    /// The order (the `Order` schema) as JSON text.
    #[schema(content_media_type = "application/json")]
    data: Option<String>,
    /// Milliseconds to wait before reconnecting: only on the stream's last
    /// event, when it ends early (shutdown, `API_EVENT_STREAM_LIFETIME`).
    #[schema(minimum = 0)]
    retry: Option<u64>,
}

/// Status changes of one order, as `status` events whose data is the order.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}/events",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "The order's id")),
    responses(
        (status = 200, content_type = "text/event-stream",
         description = "Server-sent events. `event: status` with the order as JSON in `data`: first \
                        the current status, then each change. The stream ends after `fulfilled`. \
                        It also ends early, with only a `retry:` field and a comment, during a \
                        shutdown and at API_EVENT_STREAM_LIFETIME: reconnect then. Lines starting \
                        with `:` are keep-alive comments.",
         body = OrderEvent),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 503, description = "API_MAX_EVENT_STREAMS streams are open, or the database is \
                                      unavailable; see Retry-After", body = ErrorBody),
    )
)]
pub async fn order_events(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = state.streams.open()?;
    // Subscribed before the first read, so a change committed in between
    // is not missed.
    let changes = state.events.subscribe();
    let order = orders::find(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no order {id}")))?;
    let watch = Watch {
        id,
        pool: state.pool.clone(),
        changes,
        stop_intake: state.stop_intake.clone(),
        ends_at: Instant::now() + state.streams.lifetime,
        first: Some(order),
        last: OrderStatus::Pending,
        done: false,
        _slot: slot,
    };
    let stream = futures::stream::unfold(watch, Watch::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

struct Watch {
    id: Uuid,
    pool: PgPool,
    changes: broadcast::Receiver<Change>,
    stop_intake: CancellationToken,
    ends_at: Instant,
    first: Option<Order>,
    last: OrderStatus,
    done: bool,
    _slot: OwnedSemaphorePermit,
}

impl Watch {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        if self.done {
            return None;
        }
        if let Some(order) = self.first.take() {
            return Some((Ok(self.status_event(&order)), self));
        }
        loop {
            tokio::select! {
                biased;
                why = ended(&self.stop_intake, self.ends_at) => return Some((Ok(self.reconnect(why)), self)),
                changed = self.changes.recv() => match changed {
                    Ok(Change::Order(id)) if id != self.id => continue,
                    // Ours; or the listener reconnected, or this stream
                    // fell behind, and a change may have been missed. The
                    // channel never closes: its sender lives in the state.
                    Ok(_) | Err(_) => {}
                },
            }
            // Until it succeeds: a read that failed once (a thousand
            // streams catching up at once through a small pool, just as the
            // database comes back) would otherwise leave the stream deaf.
            let mut retry = CATCH_UP_RETRY;
            let order = loop {
                let read =
                    service::db::bounded(CATCH_UP_TIMEOUT, orders::find(&self.pool, self.id));
                match read.await {
                    Ok(order) => break order,
                    Err(error) => {
                        tracing::warn!(%error, order_id = %self.id, "cannot re-read order; retrying");
                    }
                }
                tokio::select! {
                    biased;
                    why = ended(&self.stop_intake, self.ends_at) => return Some((Ok(self.reconnect(why)), self)),
                    () = tokio::time::sleep(retry) => retry = (retry * 2).min(CATCH_UP_RETRY_MAX),
                }
            };
            if let Some(order) = order
                && order.status != self.last
            {
                return Some((Ok(self.status_event(&order)), self));
            }
        }
    }

    fn status_event(&mut self, order: &Order) -> Event {
        self.done = order.status == OrderStatus::Fulfilled;
        self.last = order.status.clone();
        Event::default()
            .event("status")
            .data(serde_json::to_string(order).unwrap_or_default())
    }

    /// The last event: only a `retry:` hint and why.
    fn reconnect(&mut self, why: &str) -> Event {
        self.done = true;
        Event::default().retry(RECONNECT_AFTER).comment(why)
    }
}

/// Resolves, with the reason, when a stream must end: intake stopped, or
/// its lifetime is up.
async fn ended(stop_intake: &CancellationToken, ends_at: Instant) -> &'static str {
    tokio::select! {
        biased;
        () = stop_intake.cancelled() => "server draining, reconnect",
        () = tokio::time::sleep_until(ends_at) => "stream lifetime reached, reconnect",
    }
}
