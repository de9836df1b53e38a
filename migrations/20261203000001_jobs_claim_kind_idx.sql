-- no-transaction
-- Serves the claim, one kind at a time (queue_claim in the next migration):
-- each kind's runnable jobs in claim order, so a claim walks only jobs it
-- can take. With the kind a mere filter on jobs_claim_idx, every claim read
-- all the older waiting jobs of kinds no worker runs before reaching its
-- own, and 10^5 of them slowed every claim of every kind.
-- Exempt on purpose, as in 20261130000001_jobs_completed_idx.sql: a
-- statement timeout would cut a long concurrent build and leave an INVALID
-- index behind; its SHARE UPDATE EXCLUSIVE lock blocks only other schema
-- changes and VACUUM, never reads or writes.
-- squawk-ignore require-statement-timeout, require-lock-timeout
create index concurrently if not exists jobs_claim_kind_idx on jobs (kind, priority, run_at, id)
    where state = 'available';
