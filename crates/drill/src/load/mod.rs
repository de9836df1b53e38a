//! The load: open-loop creates and reads at a fixed rate through an HTTP/1.1
//! keep-alive pool, plus a few SSE subscribers, every outcome recorded.

pub mod api;
pub mod classify;
pub mod record;
pub mod schedule;
pub mod watch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::api::Api;
use self::record::{Op, Record, Recorder};
use self::schedule::OpenLoop;
use crate::timeline::Timeline;

#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Requests per second, creates and reads together.
    pub rate: f64,
    pub duration: Duration,
    /// Share of requests that read an acknowledged order; the rest create.
    pub read_share: f64,
    /// SSE subscribers following orders, on top of the rate.
    pub watchers: usize,
    pub request_timeout: Duration,
    /// Idle keep-alive connections the client pool keeps.
    pub connections: usize,
    /// Prefix of every Idempotency-Key, so that this run's orders can be
    /// told apart in a database shared with anything else.
    pub key_prefix: String,
    /// A test's knob: the schedule blocks its thread this long once a
    /// second, as a starved machine would ([`OpenLoop::starve`]).
    pub starve_generator: Duration,
}

/// Runs the load against `base` (`http://host:port`) until the schedule
/// ends and every request sent has its outcome. Returns when the schedule
/// ended: after it no request falls due, so nothing after it is under load.
pub async fn run(
    base: String,
    config: LoadConfig,
    timeline: Timeline,
    recorder: Arc<Recorder>,
) -> anyhow::Result<Instant> {
    let api = Api {
        http: Api::client(config.connections)?,
        base,
        request_timeout: config.request_timeout,
    };
    let stop_watching = CancellationToken::new();
    let mut watchers = JoinSet::new();
    for _ in 0..config.watchers {
        watchers.spawn(watch::follow_orders(
            api.clone(),
            recorder.clone(),
            timeline.clone(),
            stop_watching.clone(),
        ));
    }

    let schedule = OpenLoop {
        start: Instant::now(),
        rate: config.rate,
        duration: config.duration,
        starve: config.starve_generator,
    };
    let requests = TaskTracker::new();
    schedule
        .drive(|i, due| {
            let read = rand::rng().random_bool(config.read_share.clamp(0.0, 1.0));
            requests.spawn(one_request(
                api.clone(),
                recorder.clone(),
                timeline.clone(),
                i,
                due,
                read,
                config.key_prefix.clone(),
            ));
        })
        .await;
    requests.close();
    requests.wait().await;
    stop_watching.cancel();
    watchers.join_all().await;
    Ok(schedule.start + schedule.duration)
}

async fn one_request(
    api: Api,
    recorder: Arc<Recorder>,
    timeline: Timeline,
    i: u64,
    due: Instant,
    read: bool,
    key_prefix: String,
) {
    let lag_us = api::since(due);
    let (op, answer) = match recorder.random_order().filter(|_| read) {
        Some(order) => (Op::Read, api.read(order).await),
        None => {
            let key = format!("{key_prefix}{i}");
            let answer = api.create(&key, &api::sample_order(i)).await;
            if let Ok(order) = answer.result {
                recorder.acknowledge(order);
            }
            (Op::Create, answer)
        }
    };
    let record = Record {
        at_ms: timeline.ms(due),
        latency_us: api::since(due),
        lag_us,
        op,
        outcome: answer.outcome(),
        retries: answer.retries,
    };
    recorder.record(record, answer.result.as_ref().err());
}
