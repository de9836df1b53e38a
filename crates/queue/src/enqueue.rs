//! Enqueueing inside the caller's transaction, so the domain write and its
//! job commit together or not at all.

use sqlx::PgConnection;

use crate::job::{JobId, NewJob};

/// The LISTEN/NOTIFY channel. A notification is only a hint that work may be
/// there; workers poll as well, so a lost one costs latency, never a job.
pub const CHANNEL: &str = "jobs_available";

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
    let payloads = jobs
        .iter()
        .map(|job| match &job.payload {
            Ok(payload) => Ok(payload.clone()),
            Err(error) => Err(sqlx::Error::Encode(
                format!("the payload of a `{}` job: {error}", job.kind).into(),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<JobId> = sqlx::query_scalar(
        "insert into jobs (kind, payload, priority, max_attempts, run_at, unique_key, trace_context)
         select kind, payload, priority, max_attempts, coalesce(run_at, now()), unique_key, trace_context
         from unnest($1::text[], $2::jsonb[], $3::smallint[], $4::integer[], $5::timestamptz[], $6::text[], $7::text[])
              as new(kind, payload, priority, max_attempts, run_at, unique_key, trace_context)
         on conflict (unique_key) where unique_key is not null do nothing
         returning id",
    )
    .bind(column(jobs, |j| j.kind))
    .bind(payloads)
    .bind(column(jobs, |j| j.priority))
    .bind(column(jobs, |j| j.max_attempts))
    .bind(column(jobs, |j| j.run_at))
    .bind(column(jobs, |j| j.unique_key.clone()))
    .bind(column(jobs, |j| j.trace_context.clone()))
    .fetch_all(&mut *conn)
    .await?;
    if !ids.is_empty() {
        // Delivered at commit, and folded into one by PostgreSQL however many
        // jobs the transaction enqueues.
        sqlx::query("select pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut *conn)
            .await?;
    }
    Ok(ids)
}

/// One field of every job, as the array `unnest` turns back into rows.
fn column<T>(jobs: &[NewJob], field: impl Fn(&NewJob) -> T) -> Vec<T> {
    jobs.iter().map(field).collect()
}
