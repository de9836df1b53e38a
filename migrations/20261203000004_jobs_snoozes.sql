-- A snooze ("run this again later", the handler's `JobError::Snooze`) gives
-- its attempt back, so a job that always snoozed would never run out of
-- attempts and never end. `snoozes` counts them, so the worker can cap them
-- per kind (KindOptions::max_snoozes); past the cap a snooze spends an
-- attempt like a failure.
--
-- Expand only: a constant default is stored in the catalog, not written to
-- every row, and the previous release neither reads nor writes the column.
-- `if not exists`, as every migration here: applying it twice is harmless.
-- `integer`, as `attempt` is: it never passes max_snoozes, an i32.
set local lock_timeout = '5s';
set local statement_timeout = '30s';
-- squawk-ignore prefer-bigint-over-int
alter table jobs add column if not exists snoozes integer not null default 0 check (snoozes >= 0);
