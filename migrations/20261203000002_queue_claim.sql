-- The claim, as a function, so that its plan cannot depend on the table's
-- statistics. As a prepared statement its plan was made once per
-- connection, from the statistics of that moment: a worker that started on
-- a quiet queue (or an ANALYZE taken while it was) kept a plan that read and
-- sorted every runnable job on every claim, 12 ms at 30 000 of them, and
-- worse as the backlog grew. Here the planner may not scan the table, use a
-- bitmap or sort the backlog, so the one plan left walks
-- jobs_claim_kind_idx in claim order and stops after `free_slots` rows
-- whatever it believes about the table. PL/pgSQL keeps that plan for the
-- session, so it is made once per connection, as before. (`jit = off`: the
-- disabled paths' cost would otherwise make it compile the plan.)
--
-- Each kind is walked on its own (a lateral subquery per kind), and the
-- kinds' heads are merged in claim order (priority, run_at, id): jobs of a
-- kind this worker does not run are never read. Each walk locks at most
-- `free_slots` rows, skipping rows locked by other claims; rows locked but
-- not taken are free again when the statement ends.
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
    kinds text[]
) returns setof jobs
language plpgsql
set enable_seqscan = off
set enable_bitmapscan = off
set enable_sort = off
set jit = off
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
        from unnest(kinds) as wanted(kind)
        cross join lateral (
            select candidate.id, candidate.priority, candidate.run_at
            from jobs as candidate
            where candidate.state = 'available'
              and candidate.kind = wanted.kind
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
