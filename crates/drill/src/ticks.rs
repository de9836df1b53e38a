//! The example schedule's ticks during the load (`order_stats`, every
//! `--schedule-period`): every tick due in the run's window must be
//! enqueued exactly once and recorded exactly once, through every rollout.
//! Judged from the database: the ticks' jobs (by their payload's tick) and
//! their effect, one `order_stats` row per tick.

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;

/// Per run, the ticks due in its window and what became of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ticks {
    pub expected: u64,
    /// Ticks with exactly one job.
    pub enqueued: u64,
    /// Ticks whose effect was recorded exactly once.
    pub completed: u64,
    /// Ticks with no job at all.
    pub missed: u64,
    /// Ticks with more than one job, or their effect more than once.
    pub doubled: u64,
}

/// The window's ticks: each multiple of the period after `from`, up to a
/// period before `until` (a tick at the very end may still be running).
const TICKS: &str = "with expected as (
         select generate_series(date_bin($3::interval, $1::timestamptz, 'epoch') + $3::interval,
                                $2::timestamptz - $3::interval, $3::interval) as tick
     ), jobs_per_tick as (
         select (payload->>'tick')::timestamptz as tick, count(*) as n
         from jobs where kind = 'record_order_stats'
           and (payload->>'tick')::timestamptz between $1::timestamptz and $2::timestamptz
         group by 1
     ), effects_per_tick as (
         select tick, count(*) as n from order_stats where tick between $1::timestamptz and $2::timestamptz group by tick
     )
     select count(*),
            count(*) filter (where j.n = 1),
            count(*) filter (where o.n = 1),
            count(*) filter (where j.n is null),
            count(*) filter (where j.n > 1 or o.n > 1)
     from expected e
     left join jobs_per_tick j using (tick)
     left join effects_per_tick o using (tick)";

/// The database's own clock, so the window and the ticks share one.
pub async fn now(pool: &PgPool) -> sqlx::Result<String> {
    sqlx::query_scalar("select now()::text")
        .fetch_one(pool)
        .await
}

/// `None` when the database has no `order_stats` (a release before
/// schedules).
pub async fn check(
    pool: &PgPool,
    from: &str,
    until: &str,
    period: Duration,
) -> anyhow::Result<Option<Ticks>> {
    if !crate::db::has_table(pool, "order_stats").await? {
        return Ok(None);
    }
    let (expected, enqueued, completed, missed, doubled): (i64, i64, i64, i64, i64) =
        sqlx::query_as(TICKS)
            .bind(from)
            .bind(until)
            .bind(format!("{} milliseconds", period.as_millis()))
            .fetch_one(pool)
            .await?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(Some(Ticks {
        expected: count(expected),
        enqueued: count(enqueued),
        completed: count(completed),
        missed: count(missed),
        doubled: count(doubled),
    }))
}

/// The verdict's reasons about the ticks; none when all is well.
pub fn reasons(ticks: &Ticks) -> Vec<String> {
    let mut reasons = Vec::new();
    if ticks.expected == 0 {
        reasons.push("no schedule tick was due during the load: lengthen --duration".to_owned());
    }
    if ticks.missed > 0 {
        reasons.push(format!(
            "{} of {} schedule ticks were never enqueued",
            ticks.missed, ticks.expected
        ));
    }
    if ticks.doubled > 0 {
        reasons.push(format!(
            "{} of {} schedule ticks were enqueued or run more than once",
            ticks.doubled, ticks.expected
        ));
    }
    let not_once = ticks.expected - ticks.completed.min(ticks.expected);
    if not_once > ticks.doubled + ticks.missed {
        reasons.push(format!(
            "{} schedule ticks were not completed exactly once",
            not_once - ticks.doubled - ticks.missed
        ));
    }
    reasons
}
