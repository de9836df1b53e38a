#!/usr/bin/env bash
# The api's contract, checked by schemathesis against the document the api
# serves: every check and every phase (examples, coverage, fuzzing,
# stateful). Fails on any failure or server error.
#
#   bash .ci/contract.sh          builds the api, runs it against a
#                                 throwaway PostgreSQL, runs schemathesis
set -euo pipefail
cd "$(dirname "$0")/.."

schemathesis_version=4.32.5
cache=${XDG_CACHE_HOME:-$HOME/.cache}/graceful-rust
venv=$cache/schemathesis-venv
say() { printf 'contract: %s\n' "$*"; }

if [[ ${1:-} != --with-db ]]; then
    if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$schemathesis_version"; then
        say "installing schemathesis $schemathesis_version"
        python3 -m venv "$venv" 2>/dev/null || {
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$venv"
        }
        "$venv/bin/pip" install -q "schemathesis==$schemathesis_version"
    fi
    cargo build -q -p api
    exec cargo xtask with-db -- bash .ci/contract.sh --with-db
fi

# Inside `cargo xtask with-db`: DATABASE_URL names a throwaway database.
api=target/debug/api
"$api" migrate >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=target/contract-api.log
# Streams end after 200 ms, so each event-stream case takes that long
# rather than the default 10 minutes.
LISTEN_ADDR=127.0.0.1:$port OPS_LISTEN_ADDR=127.0.0.1:0 RUST_LOG=warn \
    API_EVENT_STREAM_LIFETIME=200ms "$api" >"$log" 2>&1 &
api_pid=$!
trap 'kill "$api_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
    sleep 0.1
done
say "schemathesis against http://127.0.0.1:$port/openapi.json"
"$venv/bin/st" --config-file .ci/schemathesis.toml run "http://127.0.0.1:$port/openapi.json" \
    --checks all --phases examples,coverage,fuzzing,stateful \
    --max-examples 50 --seed 1 --no-color
