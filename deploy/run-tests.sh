#!/usr/bin/env bash
# The whole test suite: clang-format and include-rule checks, C++ unit and
# actor tests (ctest), the integration tests against the real binary, then
# the Python client and
# wrapper tests. Every suite runs; the exit code is non-zero if any failed.
set -uo pipefail
build=${1:-build}
venv=${2:-.venv}
export FERROCACHE_BIN
FERROCACHE_BIN=$(cd "$build" && pwd)/ferrocache
failed_suites=()

bash deploy/format-check.sh || failed_suites+=(format)
bash deploy/include-rules.sh || failed_suites+=(include-rules)
(cd "$build" && ctest --output-on-failure -j "$(nproc)") || failed_suites+=(ctest)
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/integration || failed_suites+=(integration)
bash deploy/sim-check.sh "$build" || failed_suites+=(simulation)
if [ -d clients/python/tests ]; then
  "$venv/bin/python" -m pytest -q -p no:cacheprovider clients/python/tests || failed_suites+=(python-client)
fi

if [ "${#failed_suites[@]}" -gt 0 ]; then
  echo "FAILED suites: ${failed_suites[*]}"
  exit 1
fi
echo "all test suites passed"
