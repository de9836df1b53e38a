-- no-transaction
-- Serves the retention sweep (completed jobs, oldest first) and the
-- completed-jobs estimate in the queue's statistics. Built concurrently so a
-- live queue keeps running while it builds; one statement per file, because
-- PostgreSQL runs a multi-statement string in one implicit transaction, and
-- a concurrent build cannot run inside one.
create index concurrently if not exists jobs_completed_idx on jobs (finished_at)
    where state = 'completed';
