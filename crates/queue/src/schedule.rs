//! Periodic jobs: a schedule is a job kind, a cron expression read in a
//! time zone, and the job to enqueue for each tick.
//!
//! Exactly one job per tick, however many workers run and however they come
//! and go, without a leader: each schedule has one row in `schedules`
//! holding its last enqueued tick, and a pass enqueues the ticks due since
//! then and moves that mark in one transaction, under the row's lock. A
//! worker that finds the row locked skips the pass (another is doing it);
//! one that comes after sees the mark moved. A leader would give the same
//! answer with a lease and an election to get wrong, and a tick due while
//! the leader changes hands is exactly what a rolling restart produces.
//!
//! The mark outlives the jobs: retention deletes finished jobs, never the
//! mark, so no tick is enqueued again once its job is gone. Each tick's job
//! also carries the unique key `schedule:NAME:TICK`, for an operator to
//! find it by.

use std::str::FromStr as _;

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use sqlx::PgPool;

use crate::job::NewJob;

/// Ticks enqueued in one pass at most, so a long outage's backlog of a
/// frequent schedule is caught up over several passes, never in one huge
/// transaction.
const MAX_TICKS_PER_PASS: usize = 1000;

/// What a schedule does with ticks that fell while no worker ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Missed {
    /// Enqueue each of them once, when a worker comes back: nothing lost.
    #[default]
    RunEach,
    /// Enqueue only the latest: for work where only the newest run matters
    /// (a cache refresh). The skipped ticks are counted.
    RunLatest,
}

/// A schedule as declared in code: its parts as written, checked at
/// start-up by [`Schedule::parse`].
#[derive(Debug, Clone, Copy)]
pub struct ScheduleSpec {
    /// Unique: the schedule's row and its jobs' unique keys carry it.
    pub name: &'static str,
    /// Five fields, or six with seconds first (`*/5 * * * * *`).
    pub cron: &'static str,
    /// An IANA name (`Europe/Berlin`), or `UTC`.
    pub time_zone: &'static str,
    pub missed: Missed,
    /// The job for one tick.
    pub job: fn(Timestamp) -> NewJob,
}

/// A schedule whose cron and time zone parsed.
#[derive(Debug, Clone)]
pub struct Schedule {
    spec: ScheduleSpec,
    cron: Cron,
    time_zone: TimeZone,
}

impl Schedule {
    /// The one-line error names the schedule and what is wrong with it.
    pub fn parse(spec: ScheduleSpec) -> Result<Self, String> {
        let name = spec.name;
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(spec.cron)
            .or_else(|_| Cron::from_str(spec.cron))
            .map_err(|error| format!("schedule `{name}`: cron `{}`: {error}", spec.cron))?;
        let time_zone = TimeZone::get(spec.time_zone).map_err(|error| {
            format!("schedule `{name}`: time zone `{}`: {error}", spec.time_zone)
        })?;
        let schedule = Self {
            spec,
            cron,
            time_zone,
        };
        if schedule.next_after(Timestamp::now()).is_none() {
            return Err(format!(
                "schedule `{name}`: cron `{}` never fires",
                spec.cron
            ));
        }
        Ok(schedule)
    }

    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    /// The first tick after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let after = after.to_zoned(self.time_zone.clone());
        self.cron
            .find_next_occurrence(&after, false)
            .ok()
            .map(|next: Zoned| next.timestamp())
    }

    /// The ticks after `after` up to and including `until`, at most `limit`.
    pub fn ticks(&self, after: Timestamp, until: Timestamp, limit: usize) -> Vec<Timestamp> {
        let mut ticks = Vec::new();
        let mut last = after;
        while ticks.len() < limit {
            match self.next_after(last) {
                Some(next) if next <= until => {
                    ticks.push(next);
                    last = next;
                }
                _ => break,
            }
        }
        ticks
    }

    /// The time between its next two ticks.
    pub fn period(&self) -> Option<std::time::Duration> {
        let next = self.next_after(Timestamp::now())?;
        let after = self.next_after(next)?;
        after.duration_since(next).try_into().ok()
    }

    /// The job for `tick` as the schedule's code makes it, with no unique
    /// key: only for the drill's negative control, a scheduler with no
    /// shared mark.
    pub fn unkeyed_job(&self, tick: Timestamp) -> NewJob {
        (self.spec.job)(tick)
    }

    /// The job for `tick`, with the unique key that names it.
    pub fn job(&self, tick: Timestamp) -> NewJob {
        (self.spec.job)(tick).unique_key(format!("schedule:{}:{tick}", self.spec.name))
    }
}

/// What one pass over a schedule did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Ticks whose job this pass enqueued.
    pub enqueued: Vec<Timestamp>,
    /// Missed ticks left out (`Missed::RunLatest`).
    pub skipped: u64,
    /// The schedule's mark after the pass: its last tick enqueued (or,
    /// before its first, when it was first seen).
    pub last: Option<Timestamp>,
    /// The schedule's next tick after its mark.
    pub next: Option<Timestamp>,
    /// Another worker held the schedule's row: it is doing this pass.
    pub busy: bool,
}

/// Enqueues the ticks of `schedule` due by `now` that no worker has
/// enqueued yet, and moves its mark, in one transaction.
///
/// A schedule seen for the first time starts at `now`: a new schedule, or
/// one renamed, does not catch up on ticks from before it existed.
pub async fn enqueue_due(
    pool: &PgPool,
    schedule: &Schedule,
    now: Timestamp,
) -> Result<Pass, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mark: Option<i64> = sqlx::query_scalar(
        "select (extract(epoch from last_tick) * 1000000)::int8
         from schedules where name = $1 for update skip locked",
    )
    .bind(schedule.name())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(mark) = mark else {
        // Locked by another pass, or seen for the first time: only then is
        // the row inserted, so a steady pass costs no insert.
        let first_sight = sqlx::query(
            "insert into schedules (name, last_tick) values ($1, $2::timestamptz)
             on conflict (name) do nothing",
        )
        .bind(schedule.name())
        .bind(now.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        return Ok(Pass {
            last: first_sight.then_some(now),
            next: first_sight.then(|| schedule.next_after(now)).flatten(),
            busy: !first_sight,
            ..Pass::default()
        });
    };
    let mark =
        Timestamp::from_microsecond(mark).map_err(|error| sqlx::Error::Decode(error.into()))?;
    let mut due = schedule.ticks(mark, now, MAX_TICKS_PER_PASS);
    let Some(&last) = due.last() else {
        tx.rollback().await?;
        return Ok(Pass {
            last: Some(mark),
            next: schedule.next_after(mark),
            ..Pass::default()
        });
    };
    let mut skipped = 0;
    if schedule.spec.missed == Missed::RunLatest && due.len() > 1 {
        skipped = (due.len() - 1) as u64;
        due = vec![last];
    }
    let jobs: Vec<NewJob> = due.iter().map(|tick| schedule.job(*tick)).collect();
    crate::enqueue_many(&mut tx, &jobs).await?;
    sqlx::query(
        "update schedules set last_tick = $2::timestamptz, updated_at = now() where name = $1",
    )
    .bind(schedule.name())
    .bind(last.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Pass {
        enqueued: due,
        skipped,
        last: Some(last),
        next: schedule.next_after(last),
        busy: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Tick {
        at: Timestamp,
    }

    impl crate::Job for Tick {
        const KIND: &'static str = "tick";
    }

    fn spec(cron: &'static str, time_zone: &'static str) -> ScheduleSpec {
        ScheduleSpec {
            name: "report",
            cron,
            time_zone,
            missed: Missed::RunEach,
            job: |at| NewJob::new(&Tick { at }),
        }
    }

    #[test]
    fn a_schedule_that_does_not_parse_names_itself_and_what_is_wrong() {
        let error = Schedule::parse(spec("61 * * * *", "UTC")).unwrap_err();
        assert!(
            error.starts_with("schedule `report`: cron `61 * * * *`"),
            "{error}"
        );
        let error = Schedule::parse(spec("0 3 * * *", "Mars/Olympus")).unwrap_err();
        assert!(
            error.starts_with("schedule `report`: time zone `Mars/Olympus`"),
            "{error}"
        );
    }

    #[test]
    fn ticks_are_read_in_the_schedules_time_zone_with_or_without_seconds() {
        let daily = Schedule::parse(spec("0 3 * * *", "Europe/Berlin")).unwrap();
        let after: Timestamp = "2026-12-04T00:00:00Z".parse().unwrap();
        let next = daily.next_after(after).unwrap();
        assert_eq!(
            next.to_string(),
            "2026-12-04T02:00:00Z",
            "03:00 in Berlin, UTC+1"
        );
        let every_five = Schedule::parse(spec("*/5 * * * * *", "UTC")).unwrap();
        let until: Timestamp = "2026-12-04T00:00:12Z".parse().unwrap();
        let ticks: Vec<String> = every_five
            .ticks(after, until, 10)
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(ticks, ["2026-12-04T00:00:05Z", "2026-12-04T00:00:10Z"]);
        assert_eq!(
            every_five
                .job("2026-12-04T00:00:05Z".parse().unwrap())
                .unique_key,
            Some("schedule:report:2026-12-04T00:00:05Z".to_owned())
        );
    }
}
