-- no-transaction
-- Serves the retention sweep (completed jobs, oldest first) and the
-- completed-jobs estimate in the queue's statistics. Built concurrently so a
-- live queue keeps running while it builds; one statement per file, because
-- PostgreSQL runs a multi-statement string in one implicit transaction, and
-- a concurrent build cannot run inside one.
-- Exempt on purpose: a statement timeout would cut a long concurrent build
-- and leave an INVALID index behind; its SHARE UPDATE EXCLUSIVE lock blocks
-- only other schema changes and VACUUM, never reads or writes. And sqlx
-- sends a no-transaction migration as one string, which PostgreSQL runs as
-- one implicit transaction, so no `set` can come before the build here.
-- squawk-ignore require-statement-timeout, require-lock-timeout
create index concurrently if not exists jobs_completed_idx on jobs (finished_at)
    where state = 'completed';
