-- Periodic jobs (queue::schedule): one row per schedule, holding the last
-- tick whose job was enqueued. A worker enqueues the ticks due since then
-- and moves the mark in one transaction under the row's lock, so each tick
-- is enqueued once however many workers run, with no leader. The mark
-- outlives the tick's job, which retention deletes.
--
-- The example domain's schedule writes `order_stats`, one row per tick:
-- exactly once per tick is visible as one row per tick.
--
-- Expand only: new tables the previous release neither reads nor writes.
set local lock_timeout = '5s';
set local statement_timeout = '30s';
create table if not exists schedules (
    name        text        primary key,
    last_tick   timestamptz not null,
    updated_at  timestamptz not null default now()
);
create table if not exists order_stats (
    tick         timestamptz not null,
    orders       bigint      not null,
    recorded_at  timestamptz not null default now()
);
-- The table is new and empty: a plain build blocks nothing.
-- squawk-ignore require-concurrent-index-creation
create index if not exists order_stats_tick_idx on order_stats (tick);
