-- The enqueue, as a function: the jobs' insert and the notify in one call,
-- so that an enqueue is one round trip, and a caller can enqueue inside its
-- own statement. The api's create is one statement this way: the order,
-- its jobs and the notify, in the statement's implicit transaction, where it
-- was five round trips (begin, the order, the jobs, the notify, commit).
--
-- The arrays are the jobs' columns, one element per job. A job whose
-- `unique_key` is taken is skipped. It returns the ids of the jobs
-- inserted, and notifies `jobs_available` (delivered at commit, folded into
-- one per transaction) only when there is one.
--
-- Expand only: the previous release does not call it. A later release that
-- changes it adds a function of another name (docs/migrations.md).
set local lock_timeout = '5s';
set local statement_timeout = '30s';
create or replace function queue_enqueue(
    new_kinds text[],
    new_payloads jsonb[],
    new_priorities smallint[],
    new_max_attempts integer[],
    new_run_ats timestamptz[],
    new_unique_keys text[],
    new_trace_contexts text[]
) returns setof bigint
language plpgsql volatile
as $$
begin
    return query
        insert into jobs (kind, payload, priority, max_attempts, run_at, unique_key, trace_context)
        select kind, payload, priority, attempts, coalesce(run_at, now()), unique_key, trace_context
        from unnest(new_kinds, new_payloads, new_priorities, new_max_attempts, new_run_ats,
                    new_unique_keys, new_trace_contexts)
             as new(kind, payload, priority, attempts, run_at, unique_key, trace_context)
        on conflict (unique_key) where unique_key is not null do nothing
        returning id;
    if found then
        perform pg_notify('jobs_available', '');
    end if;
end
$$;
