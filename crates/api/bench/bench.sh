#!/usr/bin/env bash
# Prices the API's middleware stack: requests/s on `GET /` through the whole
# stack (request id, trace span, in-flight tracking, error shaping, panic
# catching, load shedding, timeout, body limit) against axum's bare hello
# world and against the stack a user would otherwise assemble
# (examples/typical_stack.rs), in two forms: typical, with an INFO access
# line per request, and lean (`--lean`), without one, as the api; and on
# `GET /v1/orders/{id}` (one indexed PostgreSQL read), all with
# the same load tool, the same keep-alive connections, in the same run. Also
# idle RSS and the time from exec to `api ready`.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:55434/postgres \
#     crates/api/bench/bench.sh [runs=5] [seconds=10] [connections=64]
#
# Needs wrk (`apt-get install wrk`), psql, and a PostgreSQL at DATABASE_URL.
# The results go into docs/benchmarks.md, section "API".
set -euo pipefail

runs=${1:-5}
seconds=${2:-10}
connections=${3:-64}
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL server}"
cd "$(dirname "$0")/../../.."

cargo build --quiet --release -p api --bin api --example bare_hello --example typical_stack
api=target/release/api
bare=target/release/examples/bare_hello
typical=target/release/examples/typical_stack

# shellcheck source=common.sh
source crates/api/bench/common.sh "bench_api_$$"

api_addr=127.0.0.1:18180
bare_addr=127.0.0.1:18181
typical_addr=127.0.0.1:18183
lean_addr=127.0.0.1:18184
quiet_addr=127.0.0.1:18182

# Production-like settings: JSON logs at info, defaults for every limit.
start_api() {
    DATABASE_URL=$db_url LISTEN_ADDR=$api_addr OPS_LISTEN_ADDR=127.0.0.1:18190 \
        LOG_FORMAT=json RUST_LOG=info SHUTDOWN_DRAIN_DELAY=0s "$api" >"$work/api.log" 2>&1 &
    api_pid=$!
    until grep -q '"api ready"' "$work/api.log" 2>/dev/null; do sleep 0.005; done
}

# Start to ready: exec time to the `api ready` event's own timestamp.
echo "start to ready (ms):" >&2
ready_ms=()
for _ in 1 2 3 4 5; do
    started=$(date +%s.%N)
    start_api
    ready=$(grep '"api ready"' "$work/api.log" | sed -E 's/.*"timestamp":"([^"]+)".*/\1/')
    ms=$(python3 -c "import datetime,sys; r=datetime.datetime.fromisoformat(sys.argv[1].replace('Z','+00:00')).timestamp(); print(round((r-float(sys.argv[2]))*1000,1))" "$ready" "$started")
    ready_ms+=("$ms")
    echo "  $ms" >&2
    kill -TERM "$api_pid"; wait "$api_pid" || true
done

start_api
pids+=("$api_pid")
"$bare" "$bare_addr" >/dev/null &
pids+=("$!")
# JSON logs at INFO, like the api; its per-request log lines go nowhere.
RUST_LOG=info "$typical" "$typical_addr" >/dev/null &
pids+=("$!")
RUST_LOG=info "$typical" "$lean_addr" --lean >/dev/null &
pids+=("$!")
# The same binary with RUST_LOG=warn: no per-request span is created, which
# shows what the request span costs with JSON logs.
DATABASE_URL=$db_url LISTEN_ADDR=$quiet_addr OPS_LISTEN_ADDR=127.0.0.1:18191 \
    LOG_FORMAT=json RUST_LOG=warn "$api" >/dev/null 2>&1 &
pids+=("$!")
sleep 1
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
api_idle_rss=$(rss "$api_pid")
bare_idle_rss=$(rss "${pids[1]}")

order_id=$(curl -sf -X POST "http://$api_addr/v1/orders" -H 'content-type: application/json' \
    -d '{"customer_id":"bench","items":[{"sku":"s","qty":1}]}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

load() { wrk -t2 -c"$connections" -d"${seconds}s" "$1" | awk '/Requests\/sec/ {print $2}'; }

bare_rps=(); typical_rps=(); lean_rps=(); api_rps=(); quiet_rps=(); order_rps=()
for run in $(seq "$runs"); do
    bare_rps+=("$(load "http://$bare_addr/")")
    typical_rps+=("$(load "http://$typical_addr/")")
    lean_rps+=("$(load "http://$lean_addr/")")
    api_rps+=("$(load "http://$api_addr/")")
    quiet_rps+=("$(load "http://$quiet_addr/")")
    order_rps+=("$(load "http://$api_addr/v1/orders/$order_id")")
    echo "run $run: bare ${bare_rps[-1]}  typical ${typical_rps[-1]}  lean ${lean_rps[-1]}  api / ${api_rps[-1]}  api warn / ${quiet_rps[-1]}  api order ${order_rps[-1]}" >&2
done
api_loaded_rss=$(rss "$api_pid")

bare_median=$(median "${bare_rps[@]}")
typical_median=$(median "${typical_rps[@]}")
lean_median=$(median "${lean_rps[@]}")
api_median=$(median "${api_rps[@]}")
quiet_median=$(median "${quiet_rps[@]}")
order_median=$(median "${order_rps[@]}")
cat <<REPORT
wrk -t2 -c$connections -d${seconds}s, keep-alive, $runs runs each, interleaved; medians.

| target | requests/s (median) | runs |
|---|---|---|
| bare axum hello world, \`GET /\` | $bare_median | ${bare_rps[*]} |
| typical production stack, \`GET /\` | $typical_median | ${typical_rps[*]} |
| lean production stack (no access line), \`GET /\` | $lean_median | ${lean_rps[*]} |
| api, full stack, \`GET /\` | $api_median | ${api_rps[*]} |
| api, full stack, \`GET /\`, RUST_LOG=warn | $quiet_median | ${quiet_rps[*]} |
| api, \`GET /v1/orders/{id}\` | $order_median | ${order_rps[*]} |

ratio api / bare on \`GET /\`: $(python3 -c "print(round($api_median/$bare_median, 3))") (RUST_LOG=warn: $(python3 -c "print(round($quiet_median/$bare_median, 3))"))
ratio api / typical on \`GET /\`: $(python3 -c "print(round($api_median/$typical_median, 3))")
ratio api / lean on \`GET /\`: $(python3 -c "print(round($api_median/$lean_median, 3))")

| | api | bare |
|---|---|---|
| idle RSS (MiB) | $api_idle_rss | $bare_idle_rss |
| RSS after the load (MiB) | $api_loaded_rss | |
| start to ready (ms, 5 starts) | median $(median "${ready_ms[@]}"): ${ready_ms[*]} | |
REPORT
