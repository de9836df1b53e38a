-- Long jobs work in steps and record after each where they got to, the
-- cursor the next attempt starts from, on any worker (queue::checkpoint).
-- Written in the step's own transaction, fenced by the attempt's lease, so
-- each step's effect commits once with it, however often the job is
-- interrupted; kept across attempts, a release, a failure, a rescue.
--
-- Expand only: a nullable column with no default is a catalog change, and
-- the previous release neither reads nor writes it. Its `queue_claim`
-- returns `setof jobs`, so the column comes back with every claim, and the
-- previous release's claim selects the columns it names.
set local lock_timeout = '5s';
set local statement_timeout = '30s';
alter table jobs add column if not exists cursor jsonb;
