-- The example domain, next release: a receipt is addressed to the order's
-- customer, carried in the `send_receipt` payload (SendReceipt::customer_id).
-- Expand only: a nullable column the previous release neither reads nor
-- writes. Its workers still send receipts while both releases run, with no
-- customer; receipts queued before this release have none either.
set local lock_timeout = '5s';
set local statement_timeout = '30s';
alter table receipts add column if not exists customer_id text;
