//! Claiming, renewing and rescuing leases: the statements a worker process
//! runs on its own behalf, each a single round trip whatever the batch size.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;
use sqlx::{PgExecutor, PgPool};

use time::OffsetDateTime;

use crate::floors::{ClaimFloors, ClaimKey};
use crate::job::{ClaimedJob, Fence};

/// The claim: a worker's most frequent statement, prepared on its pool's
/// connections before it starts claiming (`service::db::warm`).
pub const CLAIM: &str = "select id, lease, kind, payload, attempt, max_attempts, trace_context, cursor, priority, run_at
     from queue_claim($1, $2, $3, $4, $5, $6, $7)";

/// Distinguishes the rescuer's advisory lock from any other in the database.
const RESCUE_LOCK_KEY: i64 = 0x6a6f_6273_7265_7363; // "jobsresc"

/// The claim client: one worker process's side of the queue, with who it
/// is, which kinds of job it can run, and how long its leases last.
#[derive(Debug, Clone)]
pub struct Claimer {
    pool: PgPool,
    worker_id: String,
    lease_length: Duration,
    /// Only these kinds are claimed. During a rolling update, a job of a kind
    /// added by the new release must wait for a worker of that release: an
    /// old worker that claimed it could only fail it, and after
    /// `max_attempts` failures it would be lost.
    kinds: Vec<String>,
}

/// A claimed job with its place in its kind's claim order.
#[derive(sqlx::FromRow)]
struct ClaimedRow {
    #[sqlx(flatten)]
    job: ClaimedJob,
    priority: i16,
    run_at: OffsetDateTime,
}

/// What one heartbeat did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renewal {
    /// Leases extended by a lease from now.
    pub renewed: Vec<Fence>,
    /// No longer ours: the job was rescued, and maybe claimed again.
    pub lost: Vec<Fence>,
    /// Renewed, but an operator asked for the job to be cancelled
    /// (`worker jobs cancel`), and who.
    pub cancel_requested: Vec<(Fence, String)>,
}

/// A renewed lease, and whether someone asked to cancel its job.
#[derive(sqlx::FromRow)]
struct RenewedRow {
    #[sqlx(flatten)]
    fence: Fence,
    cancel_requested_by: Option<String>,
}

/// What one rescue pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rescued {
    pub made_available: u64,
    pub discarded: u64,
}

impl Claimer {
    /// `kinds`: the job kinds this process has handlers for; it claims
    /// nothing else.
    pub fn new(
        pool: PgPool,
        worker_id: impl Into<String>,
        lease_length: Duration,
        kinds: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            pool,
            worker_id: worker_id.into(),
            lease_length,
            kinds: kinds.into_iter().map(Into::into).collect(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Claims up to `free_slots` runnable jobs of this process's kinds in
    /// one statement, walking each kind from its start. Claim only what can
    /// start now: a job claimed into a local buffer is a job nobody else can
    /// run while its lease ticks.
    pub async fn claim(&self, free_slots: u32) -> Result<Vec<ClaimedJob>, sqlx::Error> {
        self.claim_on(&self.pool, free_slots).await
    }

    /// [`Claimer::claim`] on a connection of the caller's: a test reads
    /// what the claim cost from the same transaction.
    pub async fn claim_on<'c>(
        &self,
        executor: impl PgExecutor<'c>,
        free_slots: u32,
    ) -> Result<Vec<ClaimedJob>, sqlx::Error> {
        let from_the_start: Vec<_> = self
            .kinds
            .iter()
            .map(|kind| (kind.as_str(), None))
            .collect();
        let claimed = self
            .claim_walking(executor, free_slots, &from_the_start)
            .await?;
        Ok(claimed.into_iter().map(|(job, _)| job).collect())
    }

    /// [`Claimer::claim`] for a worker that claims again and again: each
    /// kind's walk starts where `floors` says its last one ended (see
    /// [`ClaimFloors`]), and `floors` moves on.
    pub async fn claim_from(
        &self,
        floors: &mut ClaimFloors,
        free_slots: u32,
    ) -> Result<Vec<ClaimedJob>, sqlx::Error> {
        let from = floors.for_claim(&self.kinds);
        let claimed = match self.claim_walking(&self.pool, free_slots, &from).await {
            Ok(claimed) => claimed,
            Err(error) => {
                floors.forget();
                return Err(error);
            }
        };
        let keys = claimed.iter().map(|(job, key)| (job.kind.clone(), *key));
        floors.advance(free_slots, keys);
        Ok(claimed.into_iter().map(|(job, _)| job).collect())
    }

    /// The statement is the database's `queue_claim` function
    /// (`migrations/20261203000002_queue_claim.sql`), whose plan walks each
    /// kind's index in claim order whatever the statistics said when it was
    /// made: a backlog, however it formed, costs a claim only the rows it
    /// takes, and jobs of kinds this process does not run cost it nothing.
    async fn claim_walking<'c>(
        &self,
        executor: impl PgExecutor<'c>,
        free_slots: u32,
        from: &[(&str, Option<ClaimKey>)],
    ) -> Result<Vec<(ClaimedJob, ClaimKey)>, sqlx::Error> {
        if free_slots == 0 {
            return Ok(Vec::new());
        }
        let kinds: Vec<&str> = from.iter().map(|(kind, _)| *kind).collect();
        let priorities: Vec<Option<i16>> = from
            .iter()
            .map(|(_, key)| key.map(|k| k.priority))
            .collect();
        let run_ats: Vec<Option<OffsetDateTime>> =
            from.iter().map(|(_, key)| key.map(|k| k.run_at)).collect();
        let ids: Vec<Option<i64>> = from.iter().map(|(_, key)| key.map(|k| k.id)).collect();
        let rows: Vec<ClaimedRow> = sqlx::query_as(CLAIM)
            .bind(i64::from(free_slots))
            .bind(&self.worker_id)
            .bind(self.lease_length.as_secs_f64())
            .bind(&kinds)
            .bind(&priorities)
            .bind(&run_ats)
            .bind(&ids)
            .fetch_all(executor)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let key = ClaimKey {
                    priority: row.priority,
                    run_at: row.run_at,
                    id: row.job.fence.id.0,
                };
                (row.job, key)
            })
            .collect())
    }

    /// Renews every lease in `held` that is still ours, and says which are
    /// not (rescued and maybe claimed again elsewhere): their work must be
    /// cancelled, and it must not be completed.
    ///
    /// A row locked right now is skipped, not waited for: its attempt is
    /// being ended (a completion, a failure) or rescued. So the heartbeat
    /// never waits for a lock, and cannot deadlock with the batched
    /// completion however their rows overlap. A skipped row that is still
    /// ours is neither renewed nor lost; the next beat renews it if its
    /// attempt goes on. Only when some row was not renewed does a second,
    /// lock-free read tell skipped from lost.
    pub async fn heartbeat(&self, held: &[Fence]) -> Result<Renewal, sqlx::Error> {
        self.heartbeat_with_cursors(held, &[]).await
    }

    /// [`Claimer::heartbeat`] that also records cursors steps left to be
    /// written lazily (`cursors`, each for one of `held`): a step with no
    /// transaction of its own records where it got to this way, at no cost
    /// of its own. A cursor is written only where its lease is renewed.
    pub async fn heartbeat_with_cursors(
        &self,
        held: &[Fence],
        cursors: &[(Fence, Value)],
    ) -> Result<Renewal, sqlx::Error> {
        if held.is_empty() {
            return Ok(Renewal::default());
        }
        let (ids, claims) = columns(held);
        let pending: HashMap<Fence, &Value> = cursors
            .iter()
            .map(|(fence, cursor)| (*fence, cursor))
            .collect();
        let cursors: Vec<Option<Value>> = held
            .iter()
            .map(|fence| pending.get(fence).map(|cursor| (*cursor).clone()))
            .collect();
        let rows: Vec<RenewedRow> = sqlx::query_as(
            "update jobs set lease_expires_at = now() + make_interval(secs => $3),
                             cursor = coalesce(fence.cursor, jobs.cursor)
             from unnest($1::bigint[], $2::bigint[], $4::jsonb[]) as fence(id, lease, cursor)
             where jobs.id = fence.id and jobs.lease = fence.lease
               and jobs.id = any(array(
                 select jobs.id from jobs
                 join unnest($1::bigint[], $2::bigint[]) as fence(id, lease)
                   on jobs.id = fence.id and jobs.lease = fence.lease
                 where jobs.state = 'running'
                 for update of jobs skip locked
             ))
             returning jobs.id, jobs.lease, jobs.cancel_requested_by",
        )
        .bind(&ids)
        .bind(&claims)
        .bind(self.lease_length.as_secs_f64())
        .bind(&cursors)
        .fetch_all(&self.pool)
        .await?;
        let cancel_requested = rows
            .iter()
            .filter_map(|row| Some((row.fence, row.cancel_requested_by.clone()?)))
            .collect();
        let renewed: HashSet<Fence> = rows.into_iter().map(|row| row.fence).collect();
        let not_renewed: Vec<Fence> = held
            .iter()
            .copied()
            .filter(|fence| !renewed.contains(fence))
            .collect();
        let still_ours: HashSet<Fence> = if not_renewed.is_empty() {
            HashSet::new()
        } else {
            let (ids, claims) = columns(&not_renewed);
            sqlx::query_as::<_, Fence>(
                "select jobs.id, jobs.lease from jobs
                 join unnest($1::bigint[], $2::bigint[]) as fence(id, lease)
                   on jobs.id = fence.id and jobs.lease = fence.lease
                 where jobs.state = 'running'",
            )
            .bind(&ids)
            .bind(&claims)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect()
        };
        Ok(Renewal {
            cancel_requested,
            renewed: renewed.into_iter().collect(),
            lost: not_renewed
                .into_iter()
                .filter(|fence| !still_ours.contains(fence))
                .collect(),
        })
    }

    /// Returns jobs whose lease expired to the queue, or discards them when
    /// their attempts are used up. One process at a time does this, by a
    /// transaction-scoped advisory lock: it cannot outlive the statement, so
    /// a rescuer that dies holds nothing. A row locked right now (its lease
    /// being renewed, or its attempt ending) is skipped, not waited for: it
    /// is not abandoned, and waiting could deadlock with a heartbeat.
    pub async fn rescue(&self) -> Result<Rescued, sqlx::Error> {
        let states: Vec<String> = sqlx::query_scalar(
            "with rescuer as (select pg_try_advisory_xact_lock($1) as is_only_one)
             update jobs set state = case when attempt >= max_attempts or cancel_requested_by is not null
                                          then 'discarded' else 'available' end,
                             finished_at = case when attempt >= max_attempts or cancel_requested_by is not null
                                                then now() end,
                             last_error = case when cancel_requested_by is not null
                                 then 'cancelled by ' || cancel_requested_by || '; its worker did not stop it, and its lease expired (held by ' || coalesce(locked_by, '?') || ')'
                                 else 'lease expired (held by ' || coalesce(locked_by, '?') || ')' end,
                             locked_by = null,
                             lease_expires_at = null
             where id = any(array(
                 select jobs.id from jobs, rescuer
                 where rescuer.is_only_one and jobs.state = 'running' and jobs.lease_expires_at < now()
                 order by jobs.id
                 for update of jobs skip locked
             ))
             returning state",
        )
        .bind(RESCUE_LOCK_KEY)
        .fetch_all(&self.pool)
        .await?;
        let discarded = states.iter().filter(|s| *s == "discarded").count() as u64;
        let made_available = states.len() as u64 - discarded;
        if made_available > 0 {
            // Rescued work should not wait for someone's poll interval.
            sqlx::query("select pg_notify($1, '')")
                .bind(crate::CHANNEL)
                .execute(&self.pool)
                .await?;
        }
        Ok(Rescued {
            made_available,
            discarded,
        })
    }
}

/// Fences as the two arrays `unnest` turns back into rows.
pub(crate) fn columns(fences: &[Fence]) -> (Vec<i64>, Vec<i64>) {
    fences.iter().map(|fence| (fence.id.0, fence.claim)).unzip()
}
