//! One clock for everything the drill records, so that requests, pod events
//! and rollout windows line up on the chart and in the verdict.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// What happened to a pod, in the order a rollout makes it happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PodEventKind {
    Started,
    Ready,
    EndpointAdded,
    Terminating,
    EndpointRemoved,
    Sigterm,
    Sigkill,
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct PodEvent {
    pub at_ms: f64,
    pub pod: String,
    #[serde(flatten)]
    pub kind: PodEventKind,
}

/// A span of time in which a deployment was being rolled: from its first
/// new pod until its last old pod exited.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub deployment: String,
    pub from_ms: f64,
    pub to_ms: f64,
}

impl Window {
    pub fn contains(&self, at_ms: f64) -> bool {
        self.from_ms <= at_ms && at_ms < self.to_ms
    }
}

#[derive(Debug, Clone)]
pub struct Timeline {
    start: Instant,
    events: Arc<Mutex<Vec<PodEvent>>>,
    windows: Arc<Mutex<Vec<Window>>>,
}

impl Timeline {
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            events: Arc::default(),
            windows: Arc::default(),
        }
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    /// Milliseconds since the drill started; instants before it count as 0.
    pub fn ms(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64() * 1000.0
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn pod_event(&self, pod: &str, kind: PodEventKind) {
        let event = PodEvent {
            at_ms: self.ms(Instant::now()),
            pod: pod.to_owned(),
            kind,
        };
        self.events.lock().unwrap().push(event);
    }

    pub fn window(&self, deployment: &str, from: Instant, to: Instant) {
        let window = Window {
            deployment: deployment.to_owned(),
            from_ms: self.ms(from),
            to_ms: self.ms(to),
        };
        self.windows.lock().unwrap().push(window);
    }

    pub fn events(&self) -> Vec<PodEvent> {
        self.events.lock().unwrap().clone()
    }

    pub fn windows(&self) -> Vec<Window> {
        self.windows.lock().unwrap().clone()
    }
}
