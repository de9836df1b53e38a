//! Ending an attempt. Every statement here is fenced: it changes the row only
//! if the job's claim is still the one presented, so a stale worker gets
//! `None`, `false` or [`FailOutcome::Lost`] and changes nothing.

use std::time::Duration;

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, PgExecutor, Postgres, Transaction};

use crate::job::Fence;

/// The update that ends an attempt: it sets `$set`, frees the lease, and
/// changes the row only while the lease is still the attempt's (`$1` the
/// job's id, `$2` the lease it was claimed with; bind them with
/// [`fenced`]). `$tail` follows the fence: a further condition, or
/// `returning`. The fence is written here once, so no ending can forget it.
macro_rules! ending_update {
    ($set:expr $(, $tail:expr)?) => {
        $crate::finish::fenced_update!(concat!($set, ", locked_by = null, lease_expires_at = null") $(, $tail)?)
    };
}
pub(crate) use ending_update;

/// An update of a running attempt's row that keeps its lease (a
/// checkpoint), fenced as [`ending_update!`] is: `$1` the job's id, `$2`
/// the lease it was claimed with.
macro_rules! fenced_update {
    ($set:expr $(, $tail:expr)?) => {
        concat!(
            "update jobs set ",
            $set,
            " where id = $1 and lease = $2 and state = 'running'"
            $(, " ", $tail)?
        )
    };
}
pub(crate) use fenced_update;

/// `sql` (an [`ending_update!`]) with the attempt's fence bound as `$1` and
/// `$2`.
pub(crate) fn fenced(sql: &'static str, fence: Fence) -> Query<'static, Postgres, PgArguments> {
    sqlx::query(sql).bind(fence.id.0).bind(fence.claim)
}

/// Runs a [`fenced`] statement: `true` when it changed the attempt's row,
/// `false` when the lease was no longer the attempt's.
pub(crate) async fn changed<'c>(
    statement: Query<'static, Postgres, PgArguments>,
    executor: impl PgExecutor<'c>,
) -> Result<bool, sqlx::Error> {
    Ok(statement.execute(executor).await?.rows_affected() == 1)
}

/// Proof that one attempt completed its job: the fenced completion, and the
/// transaction that wrote the attempt's effect with it, committed. Only
/// [`complete`] makes one, so a handler cannot say "completed by me"
/// without having done it:
///
/// ```compile_fail
/// # fn forge(fence: queue::Fence) -> queue::Completed {
/// queue::Completed { fence }
/// # }
/// ```
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a handler returns its proof of completion to the runner"]
pub struct Completed {
    fence: Fence,
}

impl Completed {
    /// The attempt that completed.
    pub fn fence(&self) -> Fence {
        self.fence
    }
}

/// Marks a job completed in `tx`, the transaction that wrote the job's
/// effect, and commits it: the effect and the completion are one commit.
/// If the fence is stale (the lease was lost and the job maybe claimed
/// again), the transaction rolls back, the effect never happened, and the
/// answer is `None`.
///
/// `'static`: a transaction of its own from the pool. A savepoint inside
/// someone else's transaction (`outer.begin()`) would "commit" here and
/// still roll back with the outer one, and the proof would be a lie.
pub async fn complete(
    mut tx: Transaction<'static, Postgres>,
    fence: Fence,
) -> Result<Option<Completed>, sqlx::Error> {
    if !mark_completed(&mut tx, fence).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(Completed { fence }))
}

async fn mark_completed(conn: &mut PgConnection, fence: Fence) -> Result<bool, sqlx::Error> {
    let statement = ending_update!("state = 'completed', finished_at = now()");
    changed(fenced(statement, fence), conn).await
}

/// Completes many jobs in one statement; returns the fences actually
/// completed. For jobs with no transactional effect, where one round trip
/// per job would cap throughput: the worker's runner batches the jobs whose
/// handlers acknowledged them.
///
/// The rows are locked in id order (`order by id for update`), so two
/// batches that share rows lock them alike; an update straight from
/// `unnest` locks them in whatever order its plan meets them, and two
/// batches over the same jobs deadlocked that way. The heartbeat never
/// waits for a lock at all (see [`crate::Claimer::heartbeat`]). The locked
/// ids come back as an array, found again through the primary key, which
/// keeps the cached plan cheap (see [`crate::Claimer::claim`]).
pub async fn complete_many<'c>(
    executor: impl PgExecutor<'c>,
    fences: &[Fence],
) -> Result<Vec<Fence>, sqlx::Error> {
    if fences.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, claims) = crate::claimer::columns(fences);
    sqlx::query_as(
        "update jobs set state = 'completed', finished_at = now(), locked_by = null, lease_expires_at = null
         where id = any(array(
             select jobs.id from jobs
             join unnest($1::bigint[], $2::bigint[]) as fence(id, lease)
               on jobs.id = fence.id and jobs.lease = fence.lease
             where jobs.state = 'running'
             order by jobs.id
             for update of jobs
         ))
         returning id, lease",
    )
    .bind(&ids)
    .bind(&claims)
    .fetch_all(executor)
    .await
}

/// Retry delays: `delay = min(max, base · 2^(attempt − 1)) · U(0.5, 1)`.
///
/// Exponential so a failing dependency is not hammered, capped so a job is
/// retried within a known time, and jittered over the upper half so jobs that
/// failed together do not retry together (while never retrying sooner than
/// half the nominal delay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(3600),
        }
    }
}

/// The `run_at` of a retry whose delay grows with `$counter`, for a
/// statement that binds the backoff's base and max (in seconds) as `$3` and
/// `$4`, and [`MAX_BACKOFF_EXPONENT`] as `$6`: [`fail`] counts attempts,
/// [`crate::hand_back`] claims.
macro_rules! backoff_run_at {
    ($counter:literal) => {
        concat!(
            "now() + make_interval(secs => least($4, $3 * power(2, least(",
            $counter,
            " - 1, $6))) * (0.5 + random() / 2))"
        )
    };
}
pub(crate) use backoff_run_at;

/// The exponent stops growing here: `2^60` times any base of a nanosecond or
/// more is past any sensible `max` already, and a float raised much further
/// (`2^1024`) overflows, which would make the job impossible to fail.
pub(crate) const MAX_BACKOFF_EXPONENT: i32 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Back to `available`, to run after the backoff delay.
    Retrying,
    /// Attempts used up: kept with its `last_error`, never run again.
    Discarded,
    /// The lease was no longer ours; nothing changed.
    Lost,
}

/// Records a failed attempt: retried after a backoff, or discarded at
/// `max_attempts`. `error` is kept in `last_error` either way.
pub async fn fail<'c>(
    executor: impl PgExecutor<'c>,
    fence: Fence,
    error: &str,
    backoff: Backoff,
) -> Result<FailOutcome, sqlx::Error> {
    let statement = ending_update!(
        concat!(
            "state = case when attempt >= max_attempts then 'discarded' else 'available' end,
             run_at = case when attempt >= max_attempts then run_at else ",
            backoff_run_at!("attempt"),
            " end,
             finished_at = case when attempt >= max_attempts then now() end,
             last_error = $5"
        ),
        "returning state"
    );
    let state: Option<String> = sqlx::query_scalar(statement)
        .bind(fence.id.0)
        .bind(fence.claim)
        .bind(backoff.base.as_secs_f64())
        .bind(backoff.max.as_secs_f64())
        .bind(error)
        .bind(MAX_BACKOFF_EXPONENT)
        .fetch_optional(executor)
        .await?;
    Ok(match state.as_deref() {
        Some("discarded") => FailOutcome::Discarded,
        Some(_) => FailOutcome::Retrying,
        None => FailOutcome::Lost,
    })
}

/// Discards a job at once, whatever attempts it has left: for a failure no
/// retry can mend, such as an order that does not exist. `error` is kept in
/// `last_error`, and the job for the retention of discarded jobs. `false` when the lease was no longer ours.
pub async fn discard<'c>(
    executor: impl PgExecutor<'c>,
    fence: Fence,
    error: &str,
) -> Result<bool, sqlx::Error> {
    let statement = ending_update!("state = 'discarded', finished_at = now(), last_error = $3");
    changed(fenced(statement, fence).bind(error), executor).await
}
