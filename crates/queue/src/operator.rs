//! What an operator may do to jobs by hand (`worker jobs`): look, retry,
//! discard, cancel. Each change is one statement whose condition names the
//! states it may act on, so it cannot race a running attempt into a wrong
//! state: a running job is never retried or discarded from outside; it is
//! asked to stop ([`request_cancel`]), and its own worker ends it, fenced.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;

use crate::job::JobId;

/// A job as an operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct JobRow {
    pub id: JobId,
    pub kind: String,
    pub state: String,
    pub priority: i16,
    pub attempt: i32,
    pub max_attempts: i32,
    pub snoozes: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub run_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub locked_by: Option<String>,
    /// The claim counter: how many times the job was claimed.
    pub lease: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub lease_expires_at: Option<OffsetDateTime>,
    pub unique_key: Option<String>,
    pub last_error: Option<String>,
    /// The W3C traceparent of what enqueued it: find its trace by it.
    pub trace_context: Option<String>,
    pub payload: Value,
    pub cursor: Option<Value>,
    pub cancel_requested_by: Option<String>,
}

const COLUMNS: &str =
    "id, kind, state, priority, attempt, max_attempts, snoozes, created_at, run_at,
     finished_at, locked_by, lease, lease_expires_at, unique_key, last_error, trace_context,
     payload, cursor, cancel_requested_by";

/// Which jobs to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Any of these states; all when empty.
    pub states: Vec<String>,
    pub kind: Option<String>,
    /// Created at least this long ago.
    pub older_than: Option<Duration>,
    pub limit: i64,
}

/// The jobs `filter` picks, newest first.
pub async fn list(pool: &PgPool, filter: &Filter) -> Result<Vec<JobRow>, sqlx::Error> {
    let sql = format!(
        "select {COLUMNS} from jobs
         where (cardinality($1::text[]) = 0 or state = any($1))
           and ($2::text is null or kind = $2)
           and created_at <= now() - make_interval(secs => $3)
         order by id desc limit $4"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&filter.states)
        .bind(&filter.kind)
        .bind(filter.older_than.unwrap_or_default().as_secs_f64())
        .bind(filter.limit)
        .fetch_all(pool)
        .await
}

/// The jobs with these ids, in id order; a missing id is simply absent.
pub async fn find<'c>(
    executor: impl PgExecutor<'c>,
    ids: &[JobId],
) -> Result<Vec<JobRow>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from jobs where id = any($1) order by id");
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .fetch_all(executor)
        .await
}

/// One job an action changed: from which state to which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Changed {
    pub id: JobId,
    pub kind: String,
    #[sqlx(rename = "from_state")]
    pub from: String,
    #[sqlx(rename = "to_state")]
    pub to: String,
}

/// Makes discarded or waiting jobs runnable now, with an attempt left: a
/// job that used its attempts gets one more. Running and completed jobs are
/// not touched. A cancel request is forgotten: the operator changed their
/// mind.
pub async fn retry<'c>(
    executor: impl PgExecutor<'c>,
    ids: &[JobId],
) -> Result<Vec<Changed>, sqlx::Error> {
    changed(
        executor,
        ids,
        "update jobs set state = 'available', run_at = now(), finished_at = null,
                max_attempts = greatest(jobs.max_attempts, jobs.attempt + 1), cancel_requested_by = null
         from jobs as before
         where jobs.id = any($1) and before.id = jobs.id
           and jobs.state in ('discarded', 'available')
         returning jobs.id, jobs.kind, before.state as from_state, jobs.state as to_state",
        None,
    )
    .await
}

/// Discards waiting jobs (never run, or failed and waiting for their
/// retry), keeping them for `QUEUE_RETAIN_DISCARDED` with `reason` in
/// `last_error`. Running jobs are not touched: cancel them.
pub async fn discard<'c>(
    executor: impl PgExecutor<'c>,
    ids: &[JobId],
    reason: &str,
) -> Result<Vec<Changed>, sqlx::Error> {
    changed(
        executor,
        ids,
        "update jobs set state = 'discarded', finished_at = now(), last_error = $2
         from jobs as before
         where jobs.id = any($1) and before.id = jobs.id and jobs.state = 'available'
         returning jobs.id, jobs.kind, before.state as from_state, jobs.state as to_state",
        Some(reason),
    )
    .await
}

/// Cancels jobs: a waiting one is discarded at once; a running one is
/// marked, and its worker, told by its next heartbeat, cancels the
/// handler's token and discards it, fenced, with `by` in `last_error`.
/// Returns the waiting ones discarded and the running ones marked (`to`
/// is `running`: the end is the worker's).
pub async fn request_cancel<'c>(
    executor: impl PgExecutor<'c>,
    ids: &[JobId],
    by: &str,
) -> Result<Vec<Changed>, sqlx::Error> {
    changed(
        executor,
        ids,
        "update jobs set
             state = case when jobs.state = 'available' then 'discarded' else jobs.state end,
             finished_at = case when jobs.state = 'available' then now() end,
             last_error = case when jobs.state = 'available' then 'cancelled by ' || $2 else jobs.last_error end,
             cancel_requested_by = case when jobs.state = 'running' then $2 end
         from jobs as before
         where jobs.id = any($1) and before.id = jobs.id
           and jobs.state in ('available', 'running')
         returning jobs.id, jobs.kind, before.state as from_state, jobs.state as to_state",
        Some(by),
    )
    .await
}

async fn changed<'c>(
    executor: impl PgExecutor<'c>,
    ids: &[JobId],
    sql: &'static str,
    text: Option<&str>,
) -> Result<Vec<Changed>, sqlx::Error> {
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let query = sqlx::query_as(sql).bind(ids);
    let query = match text {
        Some(text) => query.bind(text),
        None => query,
    };
    let mut changed: Vec<Changed> = query.fetch_all(executor).await?;
    changed.sort_by_key(|change| change.id);
    Ok(changed)
}
