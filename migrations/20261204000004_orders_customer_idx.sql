-- no-transaction
-- Serves the export's walk over one customer's orders in id order, a batch
-- at a time (`export_orders`): without it every batch reads the whole
-- table.
-- Exempt on purpose, as in 20261203000001_jobs_claim_kind_idx.sql: a
-- statement timeout would cut a long concurrent build and leave an INVALID
-- index behind (`api migrate` rebuilds one it finds).
-- squawk-ignore require-statement-timeout, require-lock-timeout
create index concurrently if not exists orders_customer_idx on orders (customer_id, id);
