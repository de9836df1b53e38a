-- The example domain: orders, each fulfilled by a `fulfil_order` job.
-- Delete this file (and the api's routes and the worker's handler) to
-- remove the example; the queue does not depend on it.
--
-- `fulfil_count` counts fulfilment effects applied, so exactly-once is
-- visible as `fulfil_count = 1` on every fulfilled order.
create table orders (
    id               uuid        primary key default gen_random_uuid(),
    customer_id      text        not null,
    items            jsonb       not null,
    status           text        not null default 'pending'
                     check (status in ('pending', 'fulfilled')),
    idempotency_key  text,
    request_hash     text,
    created_at       timestamptz not null default now(),
    fulfilled_at     timestamptz,
    fulfil_count     integer     not null default 0
);

-- Idempotency holds across replicas and restarts because the database, not
-- a process, decides who owns a key.
create unique index orders_idempotency_key_idx on orders (idempotency_key)
    where idempotency_key is not null;
