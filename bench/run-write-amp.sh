#!/usr/bin/env bash
# Write amplification, memory and restart of one growing namespace, per
# snapshot policy: a bounded companion of run-single-node.sh (issue 13).
#
#   bench/run-write-amp.sh BUILD_DIR OUT_JSONL
#
# For each value of compact_tail_fraction in WA_FRACTIONS it starts a real
# server on a fresh data dir, fills WA_ENTRIES entries of 384 dims in chunks
# of WA_CHUNK (ferrocache-loadgen, concurrency 50), and after each chunk
# records the server's disk writes (/proc/<pid>/io write_bytes), its
# ferrocache_wal_record_bytes_total / _snapshot_bytes_total / _compactions
# counters and its VmRSS. Then it times a kill -9 restart and a clean
# restart. With WA_LONG_TAIL > 0 it also times a kill -9 restart whose log
# tail is exactly WA_LONG_TAIL inserts (compaction switched off for them),
# the worst case a policy allows. Last, the in-process hnswlib build of the
# same entries gives the insert-rate floor of the last chunk.
# Render with bench/write_amp_report.py OUT_JSONL.
#
# Knobs [defaults]: WA_ENTRIES [200000], WA_CHUNK [50000], WA_FRACTIONS
# ["0 0.25"], WA_MIN_INSERTS [10000], WA_LONG_TAIL [0], WA_INPROC [1],
# BENCH_SEED [42], BENCH_MAX_SECONDS [900].
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
entries=${WA_ENTRIES:-200000}
chunk=${WA_CHUNK:-50000}
fractions=${WA_FRACTIONS:-"0 0.25"}
min_inserts=${WA_MIN_INSERTS:-10000}
long_tail=${WA_LONG_TAIL:-0}
run_inproc=${WA_INPROC:-1}
seed=${BENCH_SEED:-42}
max_seconds=${BENCH_MAX_SECONDS:-900}

work=$(mktemp -d "${TMPDIR:-/tmp}/ferrocache-wa.XXXXXX")
: >"$out"
server_pid=""
server_port=""
server_log=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    { wait "$server_pid"; } 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

log() { echo "[wa $(date +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)] $*" >&2; }
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

# start_server DATA_DIR LABEL EXPECTED_ENTRIES [VAR=VALUE...]: start, wait for
# /health 200 with the expected entries, record the node's recovery line.
start_server() {
  local data_dir=$1 label=$2 expect=$3
  shift 3
  server_port=$(free_port)
  server_log=$work/server-$label.log
  local start_ns
  start_ns=$(date +%s%N)
  env "$@" FERROCACHE_PORT="$server_port" FERROCACHE_BIND_ADDRESS=127.0.0.1 FERROCACHE_DATA_DIR="$data_dir" \
    "$server_bin" >"$server_log" 2>&1 &
  server_pid=$!
  "$loadgen" wait-ready --port "$server_port" --since-ns "$start_ns" --max-seconds 600 \
    --expect-entries "$expect" --label "$label" >>"$out"
  local recovery
  recovery=$(grep -m1 -o 'recovery: .*' "$server_log" | tr -d '"\\' || true)
  note recovery label "\"$label\"" text "\"$recovery\"" rss_kib "$(status_kib VmRSS)"
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
# fill LABEL TOTAL_ENTRIES OFFSET COUNT: one loadgen run, then the counters.
fill() {
  local label=$1 total=$2 off=$3 n=$4
  "$loadgen" fill --port "$server_port" --dim 384 --entries "$total" --offset "$off" --count "$n" \
    --seed "$seed" --concurrency 50 --model-id "wa::384" --max-seconds "$max_seconds" \
    --server-pid "$server_pid" --label "$label" >>"$out"
  note counters label "\"$label\"" entries_after $((off + n)) \
    wal_records "$(metric ferrocache_wal_records_total)" wal_record_bytes "$(metric ferrocache_wal_record_bytes_total)" \
    snapshot_bytes "$(metric ferrocache_snapshot_bytes_total)" compactions "$(metric ferrocache_compactions_total)" \
    write_bytes "$(io_write_bytes)" rss_kib "$(status_kib VmRSS)" rss_anon_kib "$(status_kib RssAnon)" \
    rss_file_kib "$(status_kib RssFile)" hwm_kib "$(status_kib VmHWM)"
}

# The checkout the server binary belongs to, read before anything runs.
commit=$(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)
server_built=$(date -u -r "$server_bin" +%Y-%m-%dT%H:%M:%SZ)
log "work dir $work; entries $entries in chunks of $chunk; fractions $fractions; seed $seed"
for f in $fractions; do
  data=$work/data-$f
  mkdir -p "$data"
  cfg=(FERROCACHE_COMPACT_TAIL_FRACTION="$f" FERROCACHE_COMPACT_INTERVAL_INSERTS="$min_inserts")
  start_server "$data" "initial-f$f" 0 "${cfg[@]}"
  note baseline label "\"f$f\"" rss_kib "$(status_kib VmRSS)" write_bytes "$(io_write_bytes)"
  for ((off = 0; off < entries; off += chunk)); do
    n=$((entries - off < chunk ? entries - off : chunk))
    log "fraction $f: entries $off..$((off + n - 1))"
    fill "fill-f$f" "$((entries + long_tail))" "$off" "$n"
  done
  log "fraction $f: kill -9 restart"
  stop_server KILL "kill9-f$f"
  start_server "$data" "restart-kill9-f$f" "$entries" "${cfg[@]}"
  log "fraction $f: clean restart"
  stop_server TERM "clean-f$f"
  start_server "$data" "restart-clean-f$f" "$entries" "${cfg[@]}"
  if [ "$long_tail" -gt 0 ]; then
    # A tail of exactly long_tail inserts: compaction off while they go in.
    stop_server TERM "before-tail-f$f"
    start_server "$data" "tail-writer-f$f" "$entries" FERROCACHE_COMPACT_INTERVAL_INSERTS=0
    log "fraction $f: $long_tail inserts without a snapshot, then kill -9"
    fill "tail-f$f" "$((entries + long_tail))" "$entries" "$long_tail"
    stop_server KILL "tail-kill9-f$f"
    start_server "$data" "restart-tail-f$f" "$((entries + long_tail))" "${cfg[@]}"
  fi
  stop_server TERM "final-f$f"
  du_kib=$(du -sk "$data" | cut -f1)
  note disk label "\"f$f\"" data_dir_kib "$du_kib"
  rm -rf "$data"
done

if [ "$run_inproc" = 1 ]; then
  log "in-process hnswlib build of $entries entries (floor of the last chunk)"
  "$inproc" --dim 384 --entries "$entries" --seed "$seed" --tail-inserts "$chunk" --insert-only 1 --queries 1 >>"$out"
fi
note meta commit "\"$commit\"" server_built "\"$server_built\"" \
  cpu "\"$(lscpu | sed -n 's/^Model name: *//p' | head -n1)\"" cores "$(nproc)" \
  date "\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"" settings "\"entries=$entries chunk=$chunk fractions=$fractions min_inserts=$min_inserts long_tail=$long_tail seed=$seed\""
log "done; results in $out"
