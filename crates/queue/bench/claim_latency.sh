#!/usr/bin/env bash
# Claim latency with 200 000 jobs of a kind no worker runs ahead of 100 000
# noop jobs: 5b7d112's statement on its schema (jobs_claim_idx) against
# queue_claim on this tree's. Each claim of 64 commits; every round starts
# from a vacuumed table; pgbench's per-transaction log gives p50 and p99.
#
#   PGHOST=127.0.0.1 PGPORT=… PGUSER=postgres crates/queue/bench/claim_latency.sh
#
# It creates and drops the databases cl_old and cl_new on that server.
set -euo pipefail
cd "$(dirname "$0")/../../.."
P="psql -q -v ON_ERROR_STOP=1"
pgbench=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | tail -n 1)
logs=$(mktemp -d)
for db in cl_old cl_new; do
  $P -c "drop database if exists $db" -c "create database $db"
  for f in migrations/*.sql; do $P $db -f "$f" >/dev/null 2>&1; done
  $P $db -c "insert into jobs (kind, run_at) select 'retired', now() - interval '1 hour' from generate_series(1,200000)" -c "insert into jobs (kind) select 'noop' from generate_series(1,100000)"
done
$P cl_old -c "create index jobs_claim_idx on jobs (priority, run_at, id) where state = 'available'" -c "drop index jobs_claim_kind_idx"
cat > "$logs/old.pgb" <<'EOS'
update jobs set state = 'running', attempt = attempt + 1, lease = lease + 1, locked_by = 'w', lease_expires_at = now() + make_interval(secs => 30) where id = any(array( select id from jobs where state = 'available' and run_at <= now() and kind = any('{noop}') order by priority, run_at, id limit 64 for update skip locked)) returning id, lease, kind, payload, attempt, max_attempts, trace_context;
EOS
cat > "$logs/new.pgb" <<'EOS'
select id, lease, kind, payload, attempt, max_attempts, trace_context, priority, run_at from queue_claim(64, 'w', 30, '{noop}', '{null}', '{null}', '{null}');
EOS
for round in 1 2 3; do for s in old new; do
  $P cl_$s -c "update jobs set state = 'available', locked_by = null, lease_expires_at = null where state = 'running'" -c "vacuum analyze jobs"
  rm -f "$logs"/pgbench_log.*
  (cd "$logs" && PGOPTIONS="-c plan_cache_mode=force_generic_plan" "$pgbench" -n -M prepared -t 300 -c 1 -l -f "$logs/$s.pgb" cl_$s >/dev/null)
  cat "$logs"/pgbench_log.* | awk '{print $3/1000}' | sort -n | awk -v s=$s -v r=$round '{a[NR]=$1} END {printf "round %s %s: n=%d p50=%.2f ms p99=%.2f ms\n", r, s, NR, a[int(NR*0.5)], a[int(NR*0.99)]}'
done; done
$P -c "drop database cl_old" -c "drop database cl_new"
rm -rf "$logs"
