-- The claim, as a function, so that its plan cannot depend on the table's
-- statistics. As a prepared statement its plan was made once per
-- connection, from the statistics of that moment: a worker that started on
-- a quiet queue (or an ANALYZE taken while it was) kept a plan that read and
-- sorted every runnable job on every claim, 12 ms at 30 000 of them, and
-- worse as the backlog grew. Here the planner may not scan the table, use a
-- bitmap or sort the backlog, so the one plan left walks
-- jobs_claim_kind_idx in claim order and stops after `free_slots` rows
-- whatever it believes about the table. PL/pgSQL keeps that plan for the
-- session (`plan_cache_mode`, whatever the caller's), so it is made once per
-- connection, as before. (`jit = off`: the disabled paths' cost would
-- otherwise make it compile the plan.)
--
-- Each kind is walked on its own (a lateral subquery per kind), and the
-- kinds' heads are merged in claim order (priority, run_at, id): jobs of a
-- kind this worker does not run are never read. Each walk locks at most
-- `free_slots` rows, skipping rows locked by other claims; rows locked but
-- not taken are free again when the statement ends.
--
-- Each walk starts at its kind's `from_*` position, or at the start when it
-- is null. A claimed job leaves its entry in the index, dead, until VACUUM
-- removes it, and a walk from the start steps over every one of them: with
-- 450 000 jobs claimed since the last VACUUM a claim of 64 took 3.1 ms
-- instead of 1.0. So while a worker drains a backlog it walks on from where
-- its last claim of the kind ended (queue::ClaimFloors says when it walks
-- from the start again).
--
-- The previous release does not call it; a later release that changes the
-- claim adds a function of another name, since releases N and N+1 run side
-- by side (docs/migrations.md).
-- `local`: only this migration's transaction; the next migration may be a
-- concurrent index build, which must run without a timeout.
set local lock_timeout = '5s';
set local statement_timeout = '30s';
create or replace function queue_claim(
    free_slots bigint,
    worker_id text,
    lease_seconds float8,
    kinds text[],
    from_priorities smallint[],
    from_run_ats timestamptz[],
    from_ids bigint[]
) returns setof jobs
language plpgsql
set enable_seqscan = off
set enable_bitmapscan = off
set enable_sort = off
set jit = off
set plan_cache_mode = force_generic_plan
as $$
begin
    return query
    update jobs set state = 'running',
                    attempt = jobs.attempt + 1,
                    lease = jobs.lease + 1,
                    locked_by = worker_id,
                    lease_expires_at = now() + make_interval(secs => lease_seconds)
    where jobs.id = any(array(
        select head.id
        from unnest(kinds, from_priorities, from_run_ats, from_ids)
             as wanted(kind, priority, run_at, id)
        cross join lateral (
            select candidate.id, candidate.priority, candidate.run_at
            from jobs as candidate
            where candidate.state = 'available'
              and candidate.kind = wanted.kind
              and (candidate.priority, candidate.run_at, candidate.id)
                  >= (coalesce(wanted.priority, -32768),
                      coalesce(wanted.run_at, '-infinity'),
                      coalesce(wanted.id, 0))
              and candidate.run_at <= now()
            order by candidate.priority, candidate.run_at, candidate.id
            limit free_slots
            for update skip locked
        ) as head
        order by head.priority, head.run_at, head.id
        limit free_slots
    ))
    returning jobs.*;
end
$$;
