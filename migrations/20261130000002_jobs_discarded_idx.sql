-- no-transaction
-- Serves the retention sweep for discarded jobs and their estimate in the
-- queue's statistics; see 20261130000001_jobs_completed_idx.sql.
-- Exempt on purpose: a statement timeout would cut a long concurrent build
-- and leave an INVALID index behind; its SHARE UPDATE EXCLUSIVE lock blocks
-- only other schema changes and VACUUM, never reads or writes. And sqlx
-- sends a no-transaction migration as one string, which PostgreSQL runs as
-- one implicit transaction, so no `set` can come before the build here.
-- squawk-ignore require-statement-timeout, require-lock-timeout
create index concurrently if not exists jobs_discarded_idx on jobs (finished_at)
    where state = 'discarded';
