#!/usr/bin/env bash
# The create path against PostgreSQL's own bound: `POST /v1/orders` through
# the api (wrk, keep-alive connections, an Idempotency-Key each), the same
# writes as one prepared statement through pgbench (creates.sql), and the
# floor of any HTTP service doing them (examples/bare_creates.rs: axum and
# sqlx, nothing else), on one PostgreSQL, with as many database connections
# each, rounds interleaved; medians, and their ratios.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:55432/postgres \
#     crates/api/bench/creates.sh [rounds=4] [seconds=10] [connections=64] [db_connections=10]
#
# With BEFORE_API=path/to/api, an earlier build's api is measured too, in
# the same rounds, on its own port and pool.
#
# Needs wrk and pgbench (`apt-get install wrk postgresql-contrib`), psql, and
# a PostgreSQL at DATABASE_URL. The results go into docs/benchmarks.md,
# section "Creates against PostgreSQL's bound".
set -euo pipefail

rounds=${1:-4}
seconds=${2:-10}
connections=${3:-64}
db_connections=${4:-10}
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL server}"
cd "$(dirname "$0")/../../.."
bench=crates/api/bench

cargo build --quiet --release -p api --bin api --example bare_creates
api=target/release/api
bare=target/release/examples/bare_creates

# shellcheck source=common.sh
source crates/api/bench/common.sh "bench_creates_$$"

# Production-like: JSON logs at info, every limit at its default, the pool
# as large as pgbench's clients.
start_api() { # binary, port, log
    DATABASE_URL=$db_url DATABASE_MAX_CONNECTIONS=$db_connections LISTEN_ADDR=127.0.0.1:$2 \
        OPS_LISTEN_ADDR=127.0.0.1:$(($2 + 10)) LOG_FORMAT=json RUST_LOG=info SHUTDOWN_DRAIN_DELAY=0s \
        "$1" >"$3" 2>&1 &
    pids+=("$!")
    until grep -q '"api ready"' "$3" 2>/dev/null; do sleep 0.01; done
}
start_api "$api" 18280 "$work/api.log"
DATABASE_URL=$db_url "$bare" 127.0.0.1:18282 "$db_connections" >"$work/bare.log" 2>&1 &
pids+=("$!")
until grep -q "listening" "$work/bare.log" 2>/dev/null; do sleep 0.01; done
if [[ -n ${BEFORE_API:-} ]]; then
    start_api "$BEFORE_API" 18281 "$work/before.log"
fi

api_round() { # round, port
    local out
    out=$(RUN_ID="run$1-$2" wrk -t2 -c"$connections" -d"${seconds}s" -s "$bench/creates.lua" "http://127.0.0.1:$2")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "creates.sh: the api answered other than 201:" >&2
        echo "$out" >&2
        exit 1
    fi
    awk '/Requests\/sec/ {print $2}' <<<"$out"
}
pgbench_round() {
    pgbench -n -M prepared -c "$db_connections" -j 2 -T "$seconds" -f "$bench/creates.sql" "$db_url" 2>/dev/null |
        awk '/^tps/ {print $3}'
}

api_rps=(); before_rps=(); bare_rps=(); pgbench_tps=()
for round in $(seq "$rounds"); do
    api_rps+=("$(api_round "$round" 18280)")
    before=
    if [[ -n ${BEFORE_API:-} ]]; then
        before_rps+=("$(api_round "$round" 18281)")
        before=", before ${before_rps[-1]}"
    fi
    bare_rps+=("$(api_round "$round" 18282)")
    pgbench_tps+=("$(pgbench_round)")
    echo "round $round: api ${api_rps[-1]} orders/s$before, bare ${bare_rps[-1]}, pgbench ${pgbench_tps[-1]} tx/s" >&2
done
orders=$(psql -qtA "$db_url" -c "select count(*) from orders")
jobs=$(psql -qtA "$db_url" -c "select count(*) from jobs")
api_median=$(median "${api_rps[@]}")
bare_median=$(median "${bare_rps[@]}")
pgbench_median=$(median "${pgbench_tps[@]}")
cat <<REPORT
$rounds rounds of ${seconds}s, interleaved; $db_connections database connections each;
wrk -t2 -c$connections with a key per request; pgbench -M prepared -c$db_connections -j2.

| | per second (median) | rounds |
|---|---|---|
| api, \`POST /v1/orders\` | $api_median | ${api_rps[*]} |
| bare axum + sqlx, the same statement | $bare_median | ${bare_rps[*]} |
| pgbench, creates.sql (one statement) | $pgbench_median | ${pgbench_tps[*]} |
$(if [[ -n ${BEFORE_API:-} ]]; then echo "| api before (\`$BEFORE_API\`) | $(median "${before_rps[@]}") | ${before_rps[*]} |"; fi)

ratio api / pgbench: $(python3 -c "print(round($api_median/$pgbench_median, 3))")
ratio bare / pgbench: $(python3 -c "print(round($bare_median/$pgbench_median, 3))")
ratio api / bare: $(python3 -c "print(round($api_median/$bare_median, 3))")
($orders orders and $jobs jobs written in all: two jobs an order.)
REPORT
if (( jobs != 2 * orders )); then
    echo "creates.sh: $orders orders but $jobs jobs" >&2
    exit 1
fi
