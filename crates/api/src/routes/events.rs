//! `GET /v1/orders/{id}/events`: the order's status as server-sent events.
//!
//! The stream sends the current status at once, then each change; it ends
//! after the final status (`fulfilled`). When the drain begins it sends a
//! `retry:` hint and ends, so that an open stream never holds the shutdown
//! up (axum's own graceful shutdown waits on such streams forever) and the
//! client reconnects, through the load balancer, to a replica that stays.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use sqlx::PgPool;
use tokio::sync::broadcast;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::AppState;
use crate::db::orders;
use crate::error::{ApiError, ErrorBody};
use crate::extract::OrderId;
use crate::model::{Order, OrderStatus};

/// Re-read the order this often even without a notification.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How soon a client cut off by the drain should reconnect.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Status changes of one order, as `status` events whose data is the order.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}/events",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "The order's id")),
    responses(
        (status = 200, content_type = "text/event-stream",
         description = "`event: status` with the order as JSON data, first the current status, then \
                        each change; the stream ends after `fulfilled`. During a shutdown it ends \
                        early with a `retry:` hint: reconnect.",
         body = String),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
    )
)]
pub async fn order_events(
    State(state): State<AppState>,
    OrderId(id): OrderId,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let changes = state.events.subscribe();
    let order = orders::find(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no order {id}")))?;
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let watch = Watch {
        id,
        pool: state.pool.clone(),
        changes,
        poll,
        stop_intake: state.stop_intake.clone(),
        first: Some(order),
        last: OrderStatus::Pending,
        done: false,
    };
    let stream = futures::stream::unfold(watch, Watch::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

struct Watch {
    id: Uuid,
    pool: PgPool,
    changes: broadcast::Receiver<Uuid>,
    poll: Interval,
    stop_intake: CancellationToken,
    first: Option<Order>,
    last: OrderStatus,
    done: bool,
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
                () = self.stop_intake.cancelled() => {
                    self.done = true;
                    let hint = Event::default()
                        .retry(RECONNECT_AFTER)
                        .comment("server draining, reconnect");
                    return Some((Ok(hint), self));
                }
                // Ours, or missed some (lagged): re-read either way. The
                // channel never closes: its sender lives in the app state.
                changed = self.changes.recv() => {
                    if matches!(changed, Ok(id) if id != self.id) {
                        continue;
                    }
                }
                _ = self.poll.tick() => {}
            }
            match orders::find(&self.pool, self.id).await {
                Ok(Some(order)) if order.status != self.last => {
                    return Some((Ok(self.status_event(&order)), self));
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, order_id = %self.id, "cannot re-read order"),
            }
        }
    }

    fn status_event(&mut self, order: &Order) -> Event {
        self.last = order.status;
        self.done = order.status == OrderStatus::Fulfilled;
        Event::default()
            .event("status")
            .data(serde_json::to_string(order).unwrap_or_default())
    }
}
