#!/usr/bin/env bash
# Times restarts of a filled data dir without refilling it (issue 13's
# restart target): each run copies DATA_DIR (a node's data dir after kill -9
# or a clean stop), starts the server on the copy, and waits for /health
# 200 with EXPECTED entries (ferrocache-loadgen wait-ready: polled, with a
# deadline). Prints one JSON line per run (ready_ms) plus the node's
# recovery log line and the CPU time it used until ready, then kills the
# server and removes the copy.
#
#   bench/run-restart.sh BUILD_DIR DATA_DIR EXPECTED_ENTRIES [RUNS=3]
#
# SERVER_BIN overrides BUILD_DIR/ferrocache (to time another build on the
# same data); RESTART_WORK_DIR [mktemp under TMPDIR] holds the copy;
# RESTART_STOP=TERM stops each run cleanly instead of kill -9 and keeps the
# stopped copy as DATA_DIR-clean (a clean-stop data dir for later runs);
# RESTART_CHECK=N [0] asks N exact-text and N near-duplicate queries of
# random stored entries once ready (entries as bench/run-scale.sh fills
# them: 384 dims, seed 42, model scale::384), each must name its entry.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 BUILD_DIR DATA_DIR EXPECTED_ENTRIES [RUNS]" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
data=$(cd "$2" && pwd)
expect=$3
runs=${4:-3}
server_bin=${SERVER_BIN:-$build_dir/ferrocache}
loadgen=$build_dir/ferrocache-loadgen
stop=${RESTART_STOP:-KILL}
work=${RESTART_WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ferrocache-restart.XXXXXX")}
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$work/data"
}
trap cleanup EXIT

for ((i = 1; i <= runs; i++)); do
  rm -rf "$work/data"
  cp -a "$data" "$work/data"
  sync "$work/data" # the copy's writeback must not land in the timed start
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  start_ns=$(date +%s%N)
  FERROCACHE_PORT=$port FERROCACHE_BIND_ADDRESS=127.0.0.1 FERROCACHE_DATA_DIR="$work/data" \
    "$server_bin" >"$work/server-$i.log" 2>&1 &
  pid=$!
  "$loadgen" wait-ready --port "$port" --since-ns "$start_ns" --max-seconds 300 --expect-entries "$expect" \
    --label "restart-$i" || echo "run $i: not ready as expected" >&2
  grep -m1 -o 'recovery: .*' "$work/server-$i.log" || true
  # CPU seconds (user + system, all threads) the server used until ready:
  # steadier than the wall time on a machine shared with other jobs.
  echo "cpu at ready: $(awk -v t="$(getconf CLK_TCK)" '{printf "%.2f s (user %.2f, system %.2f)", ($14 + $15) / t, $14 / t, $15 / t}' "/proc/$pid/stat")"
  if [ "${RESTART_CHECK:-0}" -gt 0 ]; then
    for mode in exact query-hit; do
      "$loadgen" "$mode" --port "$port" --dim 384 --entries "$expect" --seed 42 --model-id scale::384 \
        --concurrency 1 --requests "$RESTART_CHECK" --queries "$RESTART_CHECK" --warmup 0 --max-seconds 600 \
        --label "check-$mode-$i" || echo "run $i: $mode check failed" >&2
    done
  fi
  echo "load $(cut -d' ' -f1 /proc/loadavg)"
  if [ "$stop" = TERM ]; then
    kill -TERM "$pid"
    t0=$(date +%s%N)
    w=0
    while kill -0 "$pid" 2>/dev/null && [ "$w" -lt 1200 ]; do
      sleep 0.1 # polling the process with a deadline
      w=$((w + 1))
    done
    echo "clean stop took $((($(date +%s%N) - t0) / 1000000)) ms"
    wait "$pid" || true
    pid=""
    rm -rf "$data-clean"
    mv "$work/data" "$data-clean"
  else
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
  fi
done
