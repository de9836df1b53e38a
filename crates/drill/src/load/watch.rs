//! The SSE subscribers: each follows a recent order until it is fulfilled,
//! reopening the stream whenever a draining server ends it with a `retry:`
//! hint, as a browser's EventSource would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::api::{self, Api};
use super::classify;
use super::record::{Failure, Op, Outcome, Record, Recorder};
use crate::timeline::Timeline;

/// Longest one stream may stay open; an order takes well under a second to
/// fulfil, or a lease's length when its worker was killed.
const STREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for an order not followed yet.
const IDLE_PAUSE: Duration = Duration::from_millis(100);

/// How one stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// The final `status` event (`fulfilled`) arrived.
    Fulfilled,
    /// The server ended the stream with a `retry:` hint: reconnect.
    Retry(Duration),
    Failed(Failure),
}

/// Follows orders one after the other until `stop`. A stream cut off by
/// `stop` is not recorded: the drill ended it, not the server.
pub async fn follow_orders(
    api: Api,
    recorder: Arc<Recorder>,
    timeline: Timeline,
    stop: CancellationToken,
) {
    let mut followed = None;
    while !stop.is_cancelled() {
        // The newest order, so that there is something left to wait for.
        let order = match recorder.latest_order() {
            Some(order) if followed != Some(order) => order,
            _ => {
                tokio::time::sleep(IDLE_PAUSE).await;
                continue;
            }
        };
        followed = Some(order);
        loop {
            let opened = Instant::now();
            let end = tokio::select! {
                () = stop.cancelled() => return,
                end = follow(&api, order) => end,
            };
            let failure = match &end {
                StreamEnd::Failed(failure) => Some(failure),
                StreamEnd::Fulfilled | StreamEnd::Retry(_) => None,
            };
            let record = Record {
                at_ms: timeline.ms(opened),
                latency_us: api::since(opened),
                lag_us: 0,
                op: Op::Watch,
                outcome: failure.map_or(Outcome::Ok, |f| f.outcome),
                retries: 0,
            };
            recorder.record(record, failure);
            let StreamEnd::Retry(after) = end else { break };
            recorder.reconnected();
            tokio::time::sleep(after).await;
        }
    }
}

async fn follow(api: &Api, order: Uuid) -> StreamEnd {
    let mut response = match api.watch(order, STREAM_TIMEOUT).await {
        Ok(response) => response,
        Err(failure) => return StreamEnd::Failed(failure),
    };
    let mut events = EventLines::default();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if let Some(end) = events.feed(&chunk) {
                    return end;
                }
            }
            Ok(None) => return events.at_end(),
            Err(error) => return StreamEnd::Failed(classify::error(&error)),
        }
    }
}

/// Just enough of the SSE format to see the two endings that matter: a
/// `fulfilled` status, and a `retry:` field. Written here because a whole
/// SSE client would hide the one thing the drill checks, how streams end.
#[derive(Debug, Default)]
pub struct EventLines {
    partial: Vec<u8>,
    retry: Option<Duration>,
}

impl EventLines {
    /// Takes the next bytes of the stream; `Some` once the order is
    /// fulfilled.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<StreamEnd> {
        self.partial.extend_from_slice(bytes);
        while let Some(newline) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=newline).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(millis) = line.strip_prefix("retry:") {
                let millis = millis.trim().parse().unwrap_or(1000);
                self.retry = Some(Duration::from_millis(millis));
            } else if let Some(data) = line.strip_prefix("data:")
                && serde_json::from_str::<serde_json::Value>(data.trim())
                    .is_ok_and(|order| order["status"] == "fulfilled")
            {
                return Some(StreamEnd::Fulfilled);
            }
        }
        None
    }

    /// The stream ended without the final event: fine only if the server
    /// asked the client to reconnect.
    pub fn at_end(&self) -> StreamEnd {
        match self.retry {
            Some(after) => StreamEnd::Retry(after),
            None => StreamEnd::Failed(Failure::new(
                Outcome::Unexpected,
                "event stream ended before `fulfilled`, without a retry hint",
            )),
        }
    }
}
