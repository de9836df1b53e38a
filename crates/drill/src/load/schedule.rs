//! The open-loop schedule: request `i` is due at `start + i / rate`, whether
//! or not earlier ones have answered. A slow server therefore cannot slow
//! the load down and hide its own latency (coordinated omission), and a
//! request's latency is measured from when it was due, not from when the
//! drill got round to sending it.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct OpenLoop {
    pub start: Instant,
    /// Requests per second.
    pub rate: f64,
    pub duration: Duration,
    /// Zero, except in the test of a starved generator: once a second the
    /// schedule blocks its thread this long (`std::thread::sleep`, not a
    /// timer), as a drill whose machine gives it no CPU would be. The
    /// requests due meanwhile fire late, and the report must say that the
    /// lag was the drill's.
    pub starve: Duration,
}

impl OpenLoop {
    /// How many requests fall due within the duration.
    pub fn count(&self) -> u64 {
        // Saturating float-to-int: a rate of 0 gives 0, a huge one the max.
        (self.duration.as_secs_f64() * self.rate).floor() as u64
    }

    /// When request `i` is due.
    pub fn intended(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// Calls `fire(i, due)` for every request at its due time. `fire` must
    /// not wait for the request (spawn it): the schedule never waits for
    /// answers. If the drill itself falls behind, late requests fire at once
    /// and keep their original due time, so the lag shows up as latency,
    /// and as the records' `lag_us`.
    pub async fn drive(&self, mut fire: impl FnMut(u64, Instant)) {
        let mut starved_until_second = 0;
        for i in 0..self.count() {
            let due = self.intended(i);
            tokio::time::sleep_until(due.into()).await;
            fire(i, due);
            let second = due.duration_since(self.start).as_secs() + 1;
            if !self.starve.is_zero() && second > starved_until_second {
                starved_until_second = second;
                std::thread::sleep(self.starve);
            }
        }
    }
}
