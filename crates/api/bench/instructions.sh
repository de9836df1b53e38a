#!/usr/bin/env bash
# Instructions per request on `GET /`, for the api's full stack and for bare
# axum, counted by callgrind. Requests/s on a shared VM wander by 10 % from
# one run to the next; instruction counts do not, so this is the number to
# watch when changing a layer (bench.sh remains the one that says what a
# user gets). Counts user-space instructions only: the kernel's share of a
# request (about three quarters of bare axum's CPU time) is not in them.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:55434/postgres \
#     crates/api/bench/instructions.sh
#
# Needs valgrind (`apt-get install valgrind`), wrk and psql. Each server runs
# under callgrind; wrk warms it up for 2 s, the counters are zeroed, and the
# next 4 s of requests are counted.
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL server}"
cd "$(dirname "$0")/../../.."

cargo build --quiet --release -p api --bin api --example bare_hello
db="bench_instructions_$$"
db_url="${DATABASE_URL%/*}/$db"
psql -q "$DATABASE_URL" -c "create database $db"
work=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    psql -q "$DATABASE_URL" -c "drop database if exists $db" || true
    rm -rf "$work"
}
trap cleanup EXIT
DATABASE_URL=$db_url target/release/api migrate >/dev/null

# count LABEL ADDR COMMAND...: prints LABEL and instructions per request.
count() {
    local label=$1 addr=$2
    shift 2
    local out="$work/${addr##*:}"
    valgrind --tool=callgrind --callgrind-out-file="$out.%p" "$@" >"$out.log" 2>&1 &
    server_pid=$!
    local pid=$server_pid
    until curl -sf "http://$addr/" >/dev/null; do sleep 0.2; done
    wrk -t1 -c8 -d2s "http://$addr/" >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    local requests
    requests=$(wrk -t1 -c8 -d4s "http://$addr/" | awk '/requests in/ {print $1}')
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    server_pid=
    local instructions
    instructions=$(callgrind_annotate "$(ls "$out".*.1)" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    rm -f "$out".*
    echo "| $label | $((instructions / requests)) | $requests |"
}

echo "| target | instructions per request | requests counted |"
echo "|---|---|---|"
count "bare axum hello world" 127.0.0.1:18281 target/release/examples/bare_hello 127.0.0.1:18281
# The same production-like settings as bench.sh; the variables are set for
# valgrind, which passes them on.
for level in info warn; do
    DATABASE_URL=$db_url LISTEN_ADDR=127.0.0.1:18280 OPS_LISTEN_ADDR=127.0.0.1:18290 \
        LOG_FORMAT=json RUST_LOG=$level SHUTDOWN_DRAIN_DELAY=0s \
        count "api, full stack, \`RUST_LOG=$level\`" 127.0.0.1:18280 target/release/api
done
