#!/usr/bin/env bash
# Builds the libFuzzer target fuzz_request with clang (only the http and
# common libraries) and runs it for SECONDS (default 60) on a scratch copy
# of the seed corpus. Exits non-zero when the fuzzer finds a crash, a
# sanitizer report or a failed check; the input that did it is kept in
# build-fuzz/fuzz-artifacts/.
#
#   bash deploy/run-fuzz.sh [SECONDS]
set -euo pipefail

seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "usage: $0 SECONDS" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
corpus_run="$root/fuzz/corpus-run" # scratch, gitignored; grows across runs
artifacts="$build/fuzz-artifacts"

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFERRO_FUZZ=ON -DFERRO_TESTS=OFF >/dev/null
cmake --build "$build" --target fuzz_request -j "${JOBS:-2}"

mkdir -p "$corpus_run" "$artifacts"
cp -n "$root"/fuzz/corpus/* "$corpus_run"/

status=0
"$build/fuzz/fuzz_request" "$corpus_run" \
  -max_total_time="$seconds" \
  -max_len=65536 \
  -dict="$root/fuzz/fuzz_request.dict" \
  -timeout=10 \
  -rss_limit_mb=2048 \
  -print_final_stats=1 \
  -artifact_prefix="$artifacts/" || status=$?

if [ "$status" -ne 0 ]; then
  echo "fuzz_request FAILED (exit $status); reproducer(s):" >&2
  ls -1 "$artifacts" >&2 || true
  exit "$status"
fi
echo "fuzz_request: no crash in ${seconds}s"
