#!/usr/bin/env bash
# The scale run of issue 13: one namespace of SCALE_ENTRIES x 384 float32
# entries (256-byte responses) filled through a real server over HTTP, and
# every target of the issue measured in the same run (`make bench-scale`).
#
#   bench/run-scale.sh BUILD_DIR OUT_JSONL
#
# 1. Fill in chunks of SCALE_CHUNK at concurrency 50 (ferrocache-loadgen).
#    After each chunk: the chunk's insert rate and the server's disk writes
#    per insert (/proc/<pid>/io write_bytes), its WAL record / snapshot byte
#    counters, VmRSS, RssAnon, RssFile and VmHWM.
# 2. At full size: query-hit and GET /health at concurrency 1 (the HTTP
#    floor), SCALE_REPEATS rounds each.
# 3. kill -9, restart: time to /health 200 with every entry counted, then a
#    sample check (SCALE_CHECK exact-text queries and as many near-duplicate
#    queries on random entries, each must name its entry). Then a clean
#    SIGTERM restart, timed and checked the same way.
# 4. The in-process hnswlib floors of the same entries, after the server has
#    stopped: the insert rate over the build's last SCALE_CHUNK inserts (the
#    floor of the fill's last chunk at the same index size) and k=1 search
#    latency at full size.
# Render with bench/scale_report.py OUT_JSONL.
#
# Bounded: the fill stops adding chunks once SCALE_FILL_DEADLINE (unix
# seconds, 0 = none) has passed, and the later steps measure the size
# reached. Knobs [defaults]: SCALE_ENTRIES [1000000], SCALE_CHUNK [100000],
# SCALE_QUERIES [5000], SCALE_REPEATS [3], SCALE_CHECK [2000], SCALE_INPROC
# [1], SCALE_FILL_DEADLINE [0], BENCH_SEED [42], BENCH_MAX_SECONDS [3600],
# SCALE_WORK_DIR [mktemp under TMPDIR]; FERROCACHE_* settings pass through to
# the server.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR OUT_JSONL" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
out=$2
server_bin=$build_dir/ferrocache
loadgen=$build_dir/ferrocache-loadgen
inproc=$build_dir/ferrocache-bench-inproc
for b in "$server_bin" "$loadgen" "$inproc"; do
  [ -x "$b" ] || { echo "missing $b; build it first" >&2; exit 2; }
done
entries=${SCALE_ENTRIES:-1000000}
chunk=${SCALE_CHUNK:-100000}
queries=${SCALE_QUERIES:-5000}
repeats=${SCALE_REPEATS:-3}
check=${SCALE_CHECK:-2000}
run_inproc=${SCALE_INPROC:-1}
fill_deadline=${SCALE_FILL_DEADLINE:-0}
seed=${BENCH_SEED:-42}
max_seconds=${BENCH_MAX_SECONDS:-3600}
model="scale::384"

work=${SCALE_WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ferrocache-scale.XXXXXX")}
mkdir -p "$work"
: >"$out"
server_pid=""
server_port=""
server_log=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    { wait "$server_pid"; } 2>/dev/null || true
  fi
  rm -rf "$work/data"
}
trap cleanup EXIT

log() { echo "[scale $(date +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)] $*" >&2; }
# A JSON line from the script: note EVENT KEY JSON_VALUE ...
note() {
  local line="{\"tool\": \"script\", \"event\": \"$1\""
  shift
  while [ $# -ge 2 ]; do
    line+=", \"$1\": $2"
    shift 2
  done
  echo "$line, \"loadavg_1m\": $(cut -d' ' -f1 /proc/loadavg)}" >>"$out"
}
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
metric() { # metric NAME: the value of an unlabelled counter of the running server
  curl -sf "http://127.0.0.1:$server_port/metrics" | awk -v n="$1" '$1 == n {print $2; exit}'
}
status_kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$server_pid/status"; }
io_write_bytes() { awk '$1 == "write_bytes:" {print $2}' "/proc/$server_pid/io"; }
memory_fields() { # the server's memory as KEY VALUE pairs for note
  echo rss_kib "$(status_kib VmRSS)" rss_anon_kib "$(status_kib RssAnon)" rss_file_kib "$(status_kib RssFile)" \
    hwm_kib "$(status_kib VmHWM)"
}

# start_server LABEL EXPECTED_ENTRIES: start on the data dir, wait for /health
# 200 with the expected entries, record the node's recovery line and memory.
start_server() {
  local label=$1 expect=$2
  server_port=$(free_port)
  server_log=$work/server-$label.log
  local start_ns
  start_ns=$(date +%s%N)
  FERROCACHE_PORT="$server_port" FERROCACHE_BIND_ADDRESS=127.0.0.1 FERROCACHE_DATA_DIR="$work/data" \
    "$server_bin" >"$server_log" 2>&1 &
  server_pid=$!
  "$loadgen" wait-ready --port "$server_port" --since-ns "$start_ns" --max-seconds 900 \
    --expect-entries "$expect" --label "$label" >>"$out" || log "WARNING: $label not ready as expected"
  local recovery
  recovery=$(grep -m1 -o 'recovery: .*' "$server_log" | tr -d '"\\' || true)
  # shellcheck disable=SC2046
  note recovery label "\"$label\"" text "\"$recovery\"" $(memory_fields)
}
# After a crash the log tail is served from the backlog while it is linked
# into the graph: when that was done, from the node's log (polled, bounded).
note_backlog_linked() {
  local label=$1 linked="" waited=0
  while [ -z "$linked" ] && [ "$waited" -lt 3000 ] && grep -q 'entries wait in backlogs' "$server_log"; do
    linked=$(grep -m1 -o 'recovered entries linked into the graph in [0-9.]* s' "$server_log" || true)
    [ -n "$linked" ] || { sleep 0.2; waited=$((waited + 1)); }
  done
  note backlog label "\"$label\"" text "\"${linked:-none}\""
}
stop_server() { # stop_server SIGNAL LABEL
  local sig=$1 label=$2 t0 waited=0 rc=0
  t0=$(date +%s%N)
  kill "-$sig" "$server_pid"
  while kill -0 "$server_pid" 2>/dev/null && [ "$waited" -lt 1200 ]; do
    sleep 0.1 # polling the process with a deadline
    waited=$((waited + 1))
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  { wait "$server_pid"; } 2>/dev/null || rc=$?
  note stop label "\"$label\"" signal "\"$sig\"" exit_code "$rc" stop_ms $((($(date +%s%N) - t0) / 1000000))
  server_pid=""
}
# loadgen MODE N LABEL [ARGS...]: one loadgen run against the filled set.
run_loadgen() {
  local mode=$1 n=$2 label=$3
  shift 3
  "$loadgen" "$mode" --port "$server_port" --dim 384 --entries "$n" --seed "$seed" --model-id "$model" \
    --max-seconds "$max_seconds" --server-pid "$server_pid" --label "$label" "$@" >>"$out" ||
    log "WARNING: loadgen $mode ($label) reported errors, mismatches or a timeout"
}
# sample_check N LABEL: random stored entries must be answerable.
sample_check() {
  local n=$1 label=$2
  run_loadgen exact "$n" "check-exact-$label" --concurrency 1 --requests "$check" --queries "$check" --warmup 0
  run_loadgen query-hit "$n" "check-hit-$label" --concurrency 1 --requests "$check" --queries "$check" --warmup 0
}

commit=$(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)
server_built=$(date -u -r "$server_bin" +%Y-%m-%dT%H:%M:%SZ)
log "work dir $work; $entries entries in chunks of $chunk; seed $seed"
rm -rf "$work/data"
mkdir -p "$work/data"
start_server initial 0
# shellcheck disable=SC2046
note baseline write_bytes "$(io_write_bytes)" $(memory_fields)

filled=0
for ((off = 0; off < entries; off += chunk)); do
  if [ "$fill_deadline" -gt 0 ] && [ "$(date +%s)" -ge "$fill_deadline" ]; then
    log "fill deadline passed at $filled entries; measuring that size"
    note deadline entries_reached "$filled"
    break
  fi
  n=$((entries - off < chunk ? entries - off : chunk))
  log "fill: entries $off..$((off + n - 1))"
  "$loadgen" fill --port "$server_port" --dim 384 --entries "$entries" --offset "$off" --count "$n" \
    --seed "$seed" --concurrency 50 --model-id "$model" --max-seconds "$max_seconds" \
    --server-pid "$server_pid" --label fill >>"$out" || log "WARNING: fill chunk at $off had errors"
  filled=$((off + n))
  # shellcheck disable=SC2046
  note counters entries_after "$filled" wal_records "$(metric ferrocache_wal_records_total)" \
    wal_record_bytes "$(metric ferrocache_wal_record_bytes_total)" \
    snapshot_bytes "$(metric ferrocache_snapshot_bytes_total)" compactions "$(metric ferrocache_compactions_total)" \
    write_bytes "$(io_write_bytes)" $(memory_fields)
done

log "queries at $filled entries"
run_loadgen query-hit "$filled" query-hit --concurrency 1 --requests "$queries" --queries "$queries" \
  --repeats "$repeats"
run_loadgen health "$filled" health --concurrency 1 --requests 20000 --repeats "$repeats"

log "kill -9 restart"
stop_server KILL kill9
start_server restart-kill9 "$filled"
sample_check "$filled" kill9
note_backlog_linked restart-kill9
log "clean restart"
stop_server TERM clean
start_server restart-clean "$filled"
sample_check "$filled" clean
stop_server TERM final
note disk data_dir_kib "$(du -sk "$work/data" | cut -f1)"
rm -rf "$work/data"

if [ "$run_inproc" = 1 ]; then
  log "in-process hnswlib build of $filled entries (floors)"
  "$inproc" --dim 384 --entries "$filled" --seed "$seed" --tail-inserts "$chunk" --queries "$queries" \
    --repeats "$repeats" --parallel 0 >>"$out"
fi
note meta commit "\"$commit\"" server_built "\"$server_built\"" \
  cpu "\"$(lscpu | sed -n 's/^Model name: *//p' | head -n1)\"" cores "$(nproc)" \
  mem_kib "$(awk '/MemTotal/ {print $2}' /proc/meminfo)" date "\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"" \
  settings "\"entries=$entries reached=$filled chunk=$chunk queries=$queries repeats=$repeats check=$check seed=$seed\""
log "done; results in $out"
