-- The job queue. Nothing here knows the example domain: delete the orders
-- migrations and the queue stands alone.
--
-- `lease` is a fencing counter: every claim bumps it, and every completion,
-- failure or release must present the value it claimed with. A worker whose
-- lease was rescued and handed to someone else can therefore never overwrite
-- the newer attempt.
create table jobs (
    id               bigint generated always as identity primary key,
    kind             text        not null,
    payload          jsonb       not null default '{}'::jsonb,
    state            text        not null default 'available'
                     check (state in ('available', 'running', 'completed', 'discarded')),
    priority         smallint    not null default 0,
    attempt          integer     not null default 0 check (attempt >= 0),
    max_attempts     integer     not null default 5 check (max_attempts > 0),
    lease            bigint      not null default 0,
    locked_by        text,
    lease_expires_at timestamptz,
    run_at           timestamptz not null default now(),
    unique_key       text,
    last_error       text,
    trace_context    text,
    created_at       timestamptz not null default now(),
    finished_at      timestamptz
);

-- Serves the claim query: `state = 'available' and run_at <= now()
-- order by priority, run_at, id`, the kind a filter. Partial, so finished
-- jobs cost it nothing.
create index jobs_claim_idx on jobs (priority, run_at, id)
    where state = 'available';

-- Serves the rescuer: running jobs whose lease has expired.
create index jobs_lease_expiry_idx on jobs (lease_expires_at)
    where state = 'running';

-- At most one job per unique key.
create unique index jobs_unique_key_idx on jobs (unique_key)
    where unique_key is not null;
