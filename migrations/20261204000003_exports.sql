-- The example domain's long job: an export of a customer's orders, in
-- batches, by an `export_orders` job that checkpoints after each batch.
-- Expand only: new tables the previous release neither reads nor writes.
--
-- `export_batches` has no unique key on (export_id, batch) on purpose: a
-- batch written twice is what the drill must be able to see, and a unique
-- key would turn it into a failed step instead. A batch's row is its
-- effect; exactly-once is visible as one row per batch.
set local lock_timeout = '5s';
set local statement_timeout = '30s';
create table if not exists exports (
    id           uuid        primary key default gen_random_uuid(),
    customer_id  text        not null,
    batch_size   bigint      not null check (batch_size between 1 and 1000),
    status       text        not null default 'running',
    created_at   timestamptz not null default now(),
    finished_at  timestamptz
);
create table if not exists export_batches (
    export_id    uuid        not null references exports (id),
    batch        bigint      not null check (batch >= 0),
    orders       bigint      not null,
    first_order  uuid        not null,
    last_order   uuid        not null,
    written_at   timestamptz not null default now()
);
-- The table is new and empty: a plain build blocks nothing.
-- squawk-ignore require-concurrent-index-creation
create index if not exists export_batches_export_idx on export_batches (export_id, batch);
