-- no-transaction
-- Serves the retention sweep for discarded jobs and their estimate in the
-- queue's statistics; see 20261130000001_jobs_completed_idx.sql.
create index concurrently if not exists jobs_discarded_idx on jobs (finished_at)
    where state = 'discarded';
