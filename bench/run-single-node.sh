#!/usr/bin/env bash
# Single-node benchmark of FerroCache: starts a real server on a free port with
# its data in a temporary directory, drives it with ferrocache-loadgen, runs
# the in-process hnswlib floors, and writes every measurement to OUT_JSON
# (render it with bench/render_report.py OUT_JSON).
#
#   bench/run-single-node.sh BUILD_DIR OUT_JSON
#
# BUILD_DIR must hold ferrocache, ferrocache-loadgen and
# ferrocache-bench-inproc (cmake --build BUILD_DIR --target ferrocache
# ferrocache-loadgen ferrocache-bench-inproc). Environment knobs (defaults in
# brackets):
#   BENCH_ENTRIES          entries per dimension for fill and restart [100000]
#   BENCH_ENTRIES_1536     entries for 1536 dims [BENCH_ENTRIES]
#   BENCH_DIMS             dimensions to run ["384 1536"]
#   BENCH_QUERIES_384      measured queries per round, 384 dims [10000]
#   BENCH_QUERIES_1536     measured queries per round, 1536 dims [5000]
#   BENCH_REPEATS          rounds per query/health measurement [3]
#   BENCH_HEALTH_REQUESTS  measured GET /health per round [20000]
#   BENCH_SWEEP_384        inserts per concurrency level, 384 dims [10000]
#   BENCH_SWEEP_1536       inserts per concurrency level, 1536 dims [5000]
#   BENCH_SWEEP_LEVELS     insert concurrency levels ["1 10 50 100"]
#   BENCH_1M=1             also fill 1M x 384 entries and time its restarts
#   BENCH_1M_ENTRIES       entries of that fill [1000000] (smaller for a smoke run)
#   BENCH_SEED             seed of the synthetic data [42]
#   BENCH_MAX_SECONDS      time limit of any single loadgen run [600]
#   BENCH_STOP_DEADLINE    seconds a SIGTERM shutdown may take [30]
# Quick smoke run: BENCH_ENTRIES=2000 BENCH_QUERIES_384=2000 \
#   BENCH_QUERIES_1536=1000 BENCH_SWEEP_384=1000 BENCH_SWEEP_1536=500 ...
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR OUT_JSON" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
out_json=$2
server_bin=$build_dir/ferrocache
loadgen=$build_dir/ferrocache-loadgen
inproc=$build_dir/ferrocache-bench-inproc
for b in "$server_bin" "$loadgen" "$inproc"; do
  [ -x "$b" ] || { echo "missing $b; build it first (see the top of $0)" >&2; exit 2; }
done

entries=${BENCH_ENTRIES:-100000}
entries_1536=${BENCH_ENTRIES_1536:-$entries}
dims=${BENCH_DIMS:-"384 1536"}
queries_384=${BENCH_QUERIES_384:-10000}
queries_1536=${BENCH_QUERIES_1536:-5000}
repeats=${BENCH_REPEATS:-3}
health_requests=${BENCH_HEALTH_REQUESTS:-20000}
sweep_384=${BENCH_SWEEP_384:-10000}
sweep_1536=${BENCH_SWEEP_1536:-5000}
sweep_levels=${BENCH_SWEEP_LEVELS:-"1 10 50 100"}
bench_1m=${BENCH_1M:-0}
entries_1m=${BENCH_1M_ENTRIES:-1000000}
seed=${BENCH_SEED:-42}
max_seconds=${BENCH_MAX_SECONDS:-600}
ready_deadline=120 # seconds a restart may take before we call it failed
stop_deadline=${BENCH_STOP_DEADLINE:-30} # seconds a SIGTERM shutdown may take

rm -f "$out_json"
work=$(mktemp -d "${TMPDIR:-/tmp}/ferrocache-bench.XXXXXX")
results=$work/results.jsonl
: >"$results"
server_pid=""
server_port=""
server_log=""
problems=0

cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    { wait "$server_pid"; } 2>/dev/null || true
  fi
  # An interrupted run keeps what it measured.
  if [ ! -s "$out_json" ] && [ -s "$results" ]; then
    cp "$results" "$out_json.partial.jsonl"
    echo "partial results in $out_json.partial.jsonl" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

log() { echo "[bench $(date +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)] $*" >&2; }

# Appends the tool's JSON lines to the results; a failed run (exit 3: errors,
# mismatches or time limit) is kept and counted, anything else stops us.
record() {
  local rc=0
  "$@" >>"$results" || rc=$?
  if [ "$rc" -eq 3 ]; then
    problems=$((problems + 1))
    log "WARNING: run reported errors/mismatches/timeout: $*"
  elif [ "$rc" -ne 0 ]; then
    log "FAILED ($rc): $*"
    [ -n "$server_log" ] && tail -n 20 "$server_log" >&2
    exit 1
  fi
}

note() { # a JSON line from the script itself: note EVENT KEY JSON_VALUE ...
  local line="{\"tool\": \"script\", \"event\": \"$1\""
  shift
  while [ $# -ge 2 ]; do
    line+=", \"$1\": $2"
    shift 2
  done
  echo "$line, \"loadavg_1m\": $(cut -d' ' -f1 /proc/loadavg)}" >>"$results"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server DATA_DIR LABEL EXPECTED_ENTRIES: starts the node and waits for
# /health 200, recording the time from process start to ready.
start_server() {
  local data_dir=$1 label=$2 expect=$3
  server_port=$(free_port)
  server_log=$work/server-$label.log
  local start_ns
  start_ns=$(date +%s%N)
  FERROCACHE_PORT=$server_port FERROCACHE_BIND_ADDRESS=127.0.0.1 FERROCACHE_DATA_DIR=$data_dir \
    "$server_bin" >"$server_log" 2>&1 &
  server_pid=$!
  record "$loadgen" wait-ready --port "$server_port" --since-ns "$start_ns" --max-seconds "$ready_deadline" \
    --expect-entries "$expect" --label "$label"
  # The node's own account of its recovery (records replayed, seconds).
  local recovery
  recovery=$(grep -m1 -o 'recovery: .*' "$server_log" | tr -d '"\\' || true)
  # After a crash the log tail is served from the backlog while it is linked
  # into the graph: also record when that was done (polled, with a deadline).
  if [[ $recovery =~ \ ([1-9][0-9]*)\ entries\ wait\ in\ backlogs ]]; then
    local linked="" waited=0
    while [ -z "$linked" ] && [ "$waited" -lt 600 ]; do
      linked=$(grep -m1 -o 'recovered entries linked into the graph in [0-9.]* s' "$server_log" || true)
      [ -n "$linked" ] || { sleep 0.1; waited=$((waited + 1)); }
    done
    recovery+="; ${linked:-backlog not linked within 60 s}"
  fi
  note recovery label "\"$label\"" text "\"$recovery\""
}

# stop_server SIGNAL LABEL: TERM waits (with a deadline) for a clean exit.
stop_server() {
  local sig=$1 label=$2 t0 t1
  t0=$(date +%s%N)
  kill "-$sig" "$server_pid"
  local waited=0
  while kill -0 "$server_pid" 2>/dev/null; do
    if [ "$waited" -ge $((stop_deadline * 10)) ]; then # a hung shutdown is a finding
      log "WARNING: server still running ${stop_deadline} s after SIG$sig; killing it"
      problems=$((problems + 1))
      kill -KILL "$server_pid" 2>/dev/null || true
      break
    fi
    sleep 0.1 # polling the process with a deadline, not waiting blindly
    waited=$((waited + 1))
  done
  local rc=0
  { wait "$server_pid"; } 2>/dev/null || rc=$? # braces: also hides bash's "Killed" job notice
  t1=$(date +%s%N)
  note stop label "\"$label\"" signal "\"$sig\"" exit_code "$rc" stop_ms $(((t1 - t0) / 1000000))
  server_pid=""
}

queries_for() { if [ "$1" = 1536 ]; then echo "$queries_1536"; else echo "$queries_384"; fi; }
entries_for() { if [ "$1" = 1536 ]; then echo "$entries_1536"; else echo "$entries"; fi; }
sweep_for() { if [ "$1" = 1536 ]; then echo "$sweep_1536"; else echo "$sweep_384"; fi; }

run_dim() { # the fill, query, health and in-process floors of one dimension
  local dim=$1 n q
  n=$(entries_for "$dim")
  q=$(queries_for "$dim")
  local common=(--port "$server_port" --dim "$dim" --entries "$n" --seed "$seed" --max-seconds "$max_seconds")
  log "dim $dim: fill $n entries at concurrency 50"
  record "$loadgen" fill "${common[@]}" --concurrency 50 --server-pid "$server_pid" --label "fill"
  for mode in query-hit query-miss exact; do
    for c in 1 50; do
      log "dim $dim: $mode at concurrency $c"
      record "$loadgen" "$mode" "${common[@]}" --concurrency "$c" --requests "$q" --repeats "$repeats" \
        --server-pid "$server_pid" --label "$mode"
    done
  done
  for c in 1 50; do
    log "dim $dim: health at concurrency $c"
    record "$loadgen" health "${common[@]}" --concurrency "$c" --requests "$health_requests" --repeats "$repeats" \
      --server-pid "$server_pid" --label "health"
  done
  log "dim $dim: in-process hnswlib floors ($n entries)"
  record "$inproc" --dim "$dim" --entries "$n" --seed "$seed" --queries "$q" --repeats "$repeats"
}

run_sweep() { # durable insert throughput per concurrency, fresh namespace each
  local dim=$1 n count
  n=$(sweep_for "$dim")
  for c in $sweep_levels; do
    # Concurrency 1 pays a full group commit per insert: a quarter of the
    # inserts keeps it bounded.
    count=$n
    [ "$c" -eq 1 ] && count=$(((n + 3) / 4))
    log "dim $dim: insert sweep, concurrency $c, $count inserts"
    record "$loadgen" fill --port "$server_port" --dim "$dim" --entries "$count" --seed "$seed" \
      --concurrency "$c" --model-id "sweep-c$c::$dim" --max-seconds "$max_seconds" --server-pid "$server_pid" \
      --label "insert-sweep"
  done
}

# restart_pair DATA_DIR LABEL ENTRIES: a kill -9 restart (recovery replays the
# log written since the last snapshot), then a clean SIGTERM restart.
restart_pair() {
  local data_dir=$1 label=$2 n=$3
  log "restart ($label, $n entries): kill -9 (bash may print a 'Killed' notice for it)"
  stop_server KILL "$label-kill9"
  start_server "$data_dir" "restart-kill9-$label" "$n"
  log "restart ($label, $n entries): clean SIGTERM"
  stop_server TERM "$label-clean"
  start_server "$data_dir" "restart-clean-$label" "$n"
}

t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
compilers_start=$(pgrep -c cc1plus || true)
log "work dir $work; seed $seed; entries $entries (1536: $entries_1536); dims $dims"

# Server 1: the restart measurement needs a data dir holding only the
# 384-dimension fill, so 384 goes first and its restarts run before anything
# else is inserted.
data1=$work/data-main
mkdir -p "$data1"
start_server "$data1" "initial" 0
total=0
for dim in $dims; do
  run_dim "$dim"
  total=$((total + $(entries_for "$dim")))
  if [ "$dim" = 384 ]; then
    restart_pair "$data1" "384" "$total"
  fi
done
for dim in $dims; do
  run_sweep "$dim"
done
stop_server TERM "main-final"

if [ "$bench_1m" = 1 ]; then
  # 1M x 384 in chunks: the loadgen holds every body of a run in memory.
  data2=$work/data-1m
  mkdir -p "$data2"
  start_server "$data2" "initial-1m" 0
  chunk=100000
  for ((off = 0; off < entries_1m; off += chunk)); do
    n=$((entries_1m - off < chunk ? entries_1m - off : chunk))
    log "1M fill: entries $off..$((off + n - 1)) of $entries_1m"
    record "$loadgen" fill --port "$server_port" --dim 384 --entries "$entries_1m" --offset "$off" --count "$n" \
      --seed "$seed" --concurrency 50 --model-id "bench-1m::384" --max-seconds "$max_seconds" \
      --server-pid "$server_pid" --label "fill-1m"
  done
  restart_pair "$data2" "1m" "$entries_1m"
  stop_server TERM "1m-final"
fi

t_end=$(date +%s)
mem_kib=$(awk '/MemTotal/ {print $2}' /proc/meminfo)
cpu_model=$(lscpu | sed -n 's/^Model name: *//p' | head -n1)
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null || echo .)
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
# Uncommitted server sources mean the numbers belong to a working tree.
dirty=$(git -C "$repo" status --porcelain -- CMakeLists.txt app actors common http index storage 2>/dev/null | wc -l)

BENCH_META_COMMAND="$0 $*" BENCH_META_CPU="$cpu_model" BENCH_META_CORES="$(nproc)" BENCH_META_MEM_KIB="$mem_kib" \
  BENCH_META_START="$t_start" BENCH_META_END="$t_end" BENCH_META_LOAD_START="$load_start" \
  BENCH_META_LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)" BENCH_META_COMPILERS="$compilers_start" \
  BENCH_META_COMMIT="$commit" BENCH_META_DIRTY="$dirty" BENCH_META_PROBLEMS="$problems" \
  BENCH_META_KERNEL="$(uname -r)" BENCH_META_SERVER_BUILT="$(date -u -r "$server_bin" +%Y-%m-%dT%H:%M:%SZ)" \
  BENCH_META_SETTINGS="entries=$entries entries_1536=$entries_1536 dims=$dims queries_384=$queries_384 queries_1536=$queries_1536 repeats=$repeats health_requests=$health_requests sweep_384=$sweep_384 sweep_1536=$sweep_1536 sweep_levels=$sweep_levels bench_1m=$bench_1m entries_1m=$entries_1m seed=$seed" \
  python3 - "$results" "$out_json" <<'EOF'
import json, os, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
e = os.environ
meta = {
    "command": e["BENCH_META_COMMAND"],
    "settings": e["BENCH_META_SETTINGS"],
    "cpu_model": e["BENCH_META_CPU"],
    "cores": int(e["BENCH_META_CORES"]),
    "mem_gib": round(int(e["BENCH_META_MEM_KIB"]) / 1024 / 1024, 1),
    "kernel": e["BENCH_META_KERNEL"],
    "started_unix": int(e["BENCH_META_START"]),
    "wall_s": int(e["BENCH_META_END"]) - int(e["BENCH_META_START"]),
    "loadavg_start": e["BENCH_META_LOAD_START"],
    "loadavg_end": e["BENCH_META_LOAD_END"],
    "compilers_running_at_start": int(e["BENCH_META_COMPILERS"] or 0),
    "commit": e["BENCH_META_COMMIT"],
    "server_binary_built": e["BENCH_META_SERVER_BUILT"],
    "uncommitted_server_files": int(e["BENCH_META_DIRTY"]),
    "runs_with_problems": int(e["BENCH_META_PROBLEMS"]),
}
json.dump({"meta": meta, "runs": runs}, open(sys.argv[2], "w"), indent=1)
EOF
log "done in $((t_end - t_start)) s; $problems run(s) with problems; results in $out_json"
[ "$problems" -eq 0 ]
