//! The periodic jobs, declared next to the kinds they enqueue: each a
//! kind on the list, a cron expression read in a time zone, and the job
//! for one tick (docs/extending.md, "Add a schedule").

use jiff::Timestamp;
use queue::NewJob;
use queue::schedule::{Missed, ScheduleSpec};
use serde::{Deserialize, Serialize};

/// Every schedule, once. The worker parses them at start-up: one that
/// does not parse is bad config, and the worker exits 2 naming it.
pub const SCHEDULES: &[ScheduleSpec] = &[ScheduleSpec {
    name: "order_stats",
    cron: "*/5 * * * * *",
    time_zone: "UTC",
    missed: Missed::RunEach,
    job: |tick| NewJob::new(&RecordOrderStats { tick }),
}];

/// Record how many orders existed at a tick: the example's periodic job,
/// every five seconds, often enough for the drill to see ticks fall
/// during its rollouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordOrderStats {
    pub tick: Timestamp,
}

impl queue::Job for RecordOrderStats {
    const KIND: &'static str = "record_order_stats";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schedule_parses_and_names_a_declared_kind_once() {
        let mut names: Vec<&str> = SCHEDULES.iter().map(|spec| spec.name).collect();
        names.dedup();
        assert_eq!(names.len(), SCHEDULES.len(), "{names:?}");
        for spec in SCHEDULES {
            queue::schedule::Schedule::parse(*spec).unwrap();
        }
    }

    #[test]
    fn the_payload_keeps_its_shape() {
        let tick: Timestamp = "2026-12-04T00:00:05Z".parse().unwrap();
        assert_eq!(
            serde_json::to_value(RecordOrderStats { tick }).unwrap(),
            serde_json::json!({ "tick": "2026-12-04T00:00:05Z" })
        );
    }
}
