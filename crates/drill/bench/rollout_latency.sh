#!/usr/bin/env bash
# Latency through a rollout, two builds side by side: the default drill
# (`drill local`, release binaries) run ROUNDS times at each RATE, the two
# builds' runs interleaved so that the machine's drift falls on both alike.
# Prints, per build and rate, the medians over the rounds of the steady and
# the in-rollout p50 and p99, and the ratios the issue's goals are set on.
#
#   crates/drill/bench/rollout_latency.sh BEFORE_DIR AFTER_DIR [ROUNDS] [RATES…]
#
# BEFORE_DIR and AFTER_DIR each hold an `api` and a `worker` (release
# builds); the drill is target/release/drill. DATABASE_URL must name a
# PostgreSQL server where databases may be created (`cargo xtask with-db --
# …` gives one): each run gets a fresh database, dropped after it, so that
# no run pays for the last one's rows (autovacuum, bigger indexes).
set -euo pipefail
cd "$(dirname "$0")/../../.."
before=$1 after=$2
rounds=${3:-3}
shift $(($# < 3 ? $# : 3))
rates=("${@:-300 1000}")
read -r -a rates <<<"${rates[*]}"
out=target/rollout-latency
mkdir -p "$out"
for rate in "${rates[@]}"; do
    for round in $(seq 1 "$rounds"); do
        for build in before after; do
            dir=$before
            [[ $build == after ]] && dir=$after
            run="$out/$build-$rate-$round"
            echo "rollout-latency: $build, $rate requests/s, round $round" >&2
            db="rollout_latency_$$"
            psql -q "$DATABASE_URL" -c "create database $db"
            DATABASE_URL="${DATABASE_URL%/*}/$db" target/release/drill local \
                --api-bin "$dir/api" --worker-bin "$dir/worker" \
                --rate "$rate" --out "$run" >"$run.log" 2>&1 ||
                echo "rollout-latency: $run failed its verdict (see $run.log)" >&2
            psql -q "$DATABASE_URL" -c "drop database $db"
        done
    done
done
python3 - "$out" "$rounds" "${rates[@]}" <<'PY'
import json, statistics, sys
out, rounds, rates = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print("build   rate   steady p50   p99   rollout p50   p99   p50 ratio  p99 ratio  drill lag p99  CPU busy  verdicts")
for rate in rates:
    for build in ("before", "after"):
        reports = [json.load(open(f"{out}/{build}-{rate}-{k}/report.json")) for k in range(1, rounds + 1)]
        med = lambda f: statistics.median(f(r) for r in reports)
        s50, s99 = med(lambda r: r["latency_steady"]["p50_ms"]), med(lambda r: r["latency_steady"]["p99_ms"])
        r50, r99 = med(lambda r: r["latency_rollout"]["p50_ms"]), med(lambda r: r["latency_rollout"]["p99_ms"])
        lag = med(lambda r: r["generator"]["lag"]["p99_ms"])
        verdicts = ",".join(r["verdict"] for r in reports)
        busy = med(lambda r: (r.get("cpu") or {}).get("machine_busy_median", float("nan")))
        print(f"{build:7} {rate:>5} {s50:10.2f} {s99:7.2f} {r50:11.2f} {r99:7.2f} {r50 / s50:9.2f}x {r99 / s99:9.2f}x {lag:12.2f}  {busy:8.0%}  {verdicts}")
PY
