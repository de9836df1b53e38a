#!/usr/bin/env bash
# What the worker asks of the database under the default drill's steady
# trickle of jobs, two builds side by side: claims per job completed,
# PostgreSQL's execution time per second of load (pg_stat_statements), and
# how long a job took from its enqueue to its completion (`send_receipt`,
# which does no work, and `fulfil_order`, 50 ms of WORK_TIME).
#
#   crates/worker/bench/claims_per_job.sh BEFORE_DIR AFTER_DIR [ROUNDS]
#
# BEFORE_DIR and AFTER_DIR each hold an `api` and a `worker` (release
# builds); the drill is target/release/drill. DATABASE_URL must name a
# PostgreSQL server started with shared_preload_libraries=pg_stat_statements
# where databases may be created; each run gets a fresh one, dropped after.
set -euo pipefail
cd "$(dirname "$0")/../../.."
before=$1 after=$2 rounds=${3:-3}
out=target/claims-per-job
mkdir -p "$out"
server=${DATABASE_URL%/*}
printf '%-7s %5s %10s %12s %14s %16s %16s %14s\n' build round claims/job "db exec ms/s" "requests p99" "receipt p50/p99" "fulfil p50/p99" "jobs done"
for round in $(seq 1 "$rounds"); do
    for build in before after; do
        dir=$before
        [[ $build == after ]] && dir=$after
        db="claims_per_job_$$"
        psql -q "$DATABASE_URL" -c "create database $db"
        psql -q "$server/$db" -c "create extension pg_stat_statements" -c "select pg_stat_statements_reset()" >/dev/null
        started=$(date +%s.%N)
        target/release/drill local --database-url "$server/$db" \
            --api-bin "$dir/api" --worker-bin "$dir/worker" \
            --out "$out/$build-$round" >"$out/$build-$round.log" 2>&1 ||
            echo "claims-per-job: $build round $round failed its verdict" >&2
        seconds=$(python3 -c "import time,sys; print(time.time()-float(sys.argv[1]))" "$started")
        read -r claims exec_ms <<<"$(psql -At -F ' ' "$server/$db" -c "
            select coalesce(sum(calls) filter (where query like '%queue_claim(%'), 0),
                   round(sum(total_exec_time)::numeric, 1)
            from pg_stat_statements s join pg_database d on d.oid = s.dbid
            where d.datname = current_database()")"
        read -r done receipt fulfil <<<"$(psql -At -F ' ' "$server/$db" -c "
            with latency as (
              select kind, extract(epoch from finished_at - created_at) * 1000 as ms
              from jobs where state = 'completed')
            select (select count(*) from latency),
                   (select round(percentile_cont(0.5) within group (order by ms)::numeric, 1) || '/' ||
                           round(percentile_cont(0.99) within group (order by ms)::numeric, 1)
                    from latency where kind = 'send_receipt'),
                   (select round(percentile_cont(0.5) within group (order by ms)::numeric, 1) || '/' ||
                           round(percentile_cont(0.99) within group (order by ms)::numeric, 1)
                    from latency where kind = 'fulfil_order')")"
        p99=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"{r['p99_steady_ms']:.2f}/{r['p99_rollout_ms']:.2f}\")" "$out/$build-$round/report.json")
        python3 - "$build" "$round" "$claims" "$exec_ms" "$seconds" "$p99" "$receipt" "$fulfil" "$done" <<'PY'
import sys
build, rnd, claims, exec_ms, seconds, p99, receipt, fulfil, done = sys.argv[1:]
print(f"{build:<7} {rnd:>5} {int(claims)/int(done):10.2f} {float(exec_ms)/float(seconds):12.1f} {p99:>14} {receipt:>16} {fulfil:>16} {done:>14}")
PY
        psql -q "$DATABASE_URL" -c "drop database $db"
    done
done
