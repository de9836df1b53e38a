//! Enqueueing inside the caller's transaction, so the domain write and its
//! job commit together or not at all.
//!
//! An enqueue is one call of the `queue_enqueue` function (migration
//! `20261204000007_queue_enqueue.sql`): the jobs' insert and the notify in
//! one round trip. [`add_job_arguments`] lets a caller put that call into
//! its own statement, as the api's create does with its order.

use sqlx::postgres::PgArguments;
use sqlx::{Arguments as _, PgConnection};

use crate::job::{JobId, NewJob};

/// The LISTEN/NOTIFY channel. A notification is only a hint that work may be
/// there; workers poll as well, so a lost one costs latency, never a job.
/// `queue_enqueue` notifies it by name.
pub const CHANNEL: &str = "jobs_available";

/// The enqueue on its own, public so that a service can prepare it before
/// its first request (`service::db::warm`).
pub const ENQUEUE: &str = "select id from queue_enqueue($1, $2, $3, $4, $5, $6, $7) as id";

/// Enqueues one job. Returns `None` when its `unique_key` is already taken.
pub async fn enqueue(conn: &mut PgConnection, job: &NewJob) -> Result<Option<JobId>, sqlx::Error> {
    let ids = enqueue_many(conn, std::slice::from_ref(job)).await?;
    Ok(ids.into_iter().next())
}

/// Enqueues many jobs, of any kinds, in one statement. Returns the ids of
/// the jobs inserted; those whose `unique_key` was taken are skipped. A
/// payload that failed to serialize fails the whole call, as
/// [`sqlx::Error::Encode`], before anything is written.
pub async fn enqueue_many(
    conn: &mut PgConnection,
    jobs: &[NewJob],
) -> Result<Vec<JobId>, sqlx::Error> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let mut arguments = PgArguments::default();
    add_job_arguments(&mut arguments, jobs)?;
    sqlx::query_scalar_with(ENQUEUE, arguments)
        .fetch_all(&mut *conn)
        .await
}

/// Appends `queue_enqueue`'s seven arguments for `jobs` to `arguments`: its
/// columns as arrays, one element per job. A payload that failed to
/// serialize is [`sqlx::Error::Encode`], and nothing is appended.
pub fn add_job_arguments(arguments: &mut PgArguments, jobs: &[NewJob]) -> Result<(), sqlx::Error> {
    let payloads = jobs
        .iter()
        .map(|job| match &job.payload {
            Ok(payload) => Ok(payload.clone()),
            Err(error) => Err(sqlx::Error::Encode(
                format!("the payload of a `{}` job: {error}", job.kind).into(),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let added = (|| {
        arguments.add(column(jobs, |j| j.kind))?;
        arguments.add(payloads)?;
        arguments.add(column(jobs, |j| j.priority))?;
        arguments.add(column(jobs, |j| j.max_attempts))?;
        arguments.add(column(jobs, |j| j.run_at))?;
        arguments.add(column(jobs, |j| j.unique_key.clone()))?;
        arguments.add(column(jobs, |j| j.trace_context.clone()))
    })();
    added.map_err(sqlx::Error::Encode)
}

/// One field of every job, as the array `unnest` turns back into rows.
fn column<T>(jobs: &[NewJob], field: impl Fn(&NewJob) -> T) -> Vec<T> {
    jobs.iter().map(field).collect()
}
