-- An operator's cancel of a running job (`worker jobs cancel`): who asked,
-- written on the row, where the job's worker reads it with its next
-- heartbeat and cancels the handler's token; the job then ends discarded
-- with who cancelled it in `last_error`. A worker that never stops it is
-- left to its lease, and the rescuer discards it instead of running it
-- again.
--
-- Expand only: a nullable column with no default. The previous release
-- neither reads nor writes it: its workers run a cancelled job to its end.
set local lock_timeout = '5s';
set local statement_timeout = '30s';
alter table jobs add column if not exists cancel_requested_by text;
