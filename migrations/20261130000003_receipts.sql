-- The example domain, next release: every new order also gets a receipt,
-- sent by a `send_receipt` job. Expand only: a new table that the previous
-- release neither reads nor writes, so it keeps running beside this one
-- (docs/migrations.md).
--
-- `sent_count` counts receipts sent, so exactly-once is visible as
-- `sent_count = 1` on every receipt.
create table if not exists receipts (
    order_id    uuid        primary key,
    sent_at     timestamptz not null default now(),
    sent_count  bigint      not null default 1
);
