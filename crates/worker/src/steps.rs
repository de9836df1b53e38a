//! One attempt's steps, for a handler that works in steps: how many it has
//! done, the cursor it recorded lazily and not yet written, and when its
//! last step ended. Shared by the handler's [`JobContext`](crate::JobContext),
//! the heartbeat (which writes a lazy cursor) and the runner (which writes
//! it at release, and lists the attempt in the shutdown report).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct Steps {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    /// The handler works in steps: it read its cursor, or asked whether to
    /// stop at a step boundary. Stopped when asked, it was interrupted.
    stepped: bool,
    done: u32,
    /// A cursor recorded lazily, with the number of the step that recorded
    /// it, until a heartbeat or the release writes it.
    unwritten: Option<(u32, Value)>,
    last_step_end: Instant,
}

impl Steps {
    pub fn new(started: Instant) -> Self {
        Self {
            inner: Arc::new(Mutex::new(State {
                stepped: false,
                done: 0,
                unwritten: None,
                last_step_end: started,
            })),
        }
    }

    pub fn mark_stepped(&self) {
        self.lock().stepped = true;
    }

    pub fn stepped(&self) -> bool {
        self.lock().stepped
    }

    /// Steps this attempt has done.
    pub fn done(&self) -> u32 {
        self.lock().done
    }

    /// A step ended at `now`, its cursor written with it (`None`) or to be
    /// written lazily; returns how long the step took. A committed cursor
    /// is newer than any lazy one, which is dropped.
    pub fn ended(&self, now: Instant, lazy_cursor: Option<Value>) -> Duration {
        let mut state = self.lock();
        state.stepped = true;
        state.done += 1;
        state.unwritten = lazy_cursor.map(|cursor| (state.done, cursor));
        let took = now.saturating_duration_since(state.last_step_end);
        state.last_step_end = now;
        took
    }

    /// The lazy cursor not yet written, with the step that recorded it.
    pub fn unwritten(&self) -> Option<(u32, Value)> {
        self.lock().unwritten.clone()
    }

    /// The cursor of step `step` was written; one recorded since stays.
    pub fn written(&self, step: u32) {
        let mut state = self.lock();
        if state.unwritten.as_ref().is_some_and(|(at, _)| *at == step) {
            state.unwritten = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lazy_cursor_is_forgotten_once_written_unless_a_newer_one_came_meanwhile() {
        let start = Instant::now();
        let steps = Steps::new(start);
        let took = steps.ended(start + Duration::from_secs(2), Some(Value::from(1)));
        assert_eq!(took, Duration::from_secs(2));
        let (first, _) = steps.unwritten().unwrap();
        steps.ended(start + Duration::from_secs(3), Some(Value::from(2)));
        steps.written(first);
        assert_eq!(
            steps.unwritten(),
            Some((2, Value::from(2))),
            "step 2's cursor was recorded after the heartbeat read step 1's"
        );
        steps.written(2);
        assert_eq!(steps.unwritten(), None);
        assert_eq!(steps.done(), 2);
    }

    #[test]
    fn a_committed_checkpoint_supersedes_a_lazy_cursor() {
        let start = Instant::now();
        let steps = Steps::new(start);
        steps.ended(start, Some(Value::from(1)));
        steps.ended(start, None);
        assert_eq!(steps.unwritten(), None);
    }
}
