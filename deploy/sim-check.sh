#!/usr/bin/env bash
# The simulator's part of `make test` (docs/simulation.md):
#   1. the same seed twice gives the same trace, for 10 seeds;
#   2. a sweep of SIM_SEEDS (default 200) seeds of the lite profile passes.
# Longer sweeps: `make sim SEEDS=10000`.
set -uo pipefail
build=${1:-build}
sim="$build/ferrocache-sim"
seeds=${SIM_SEEDS:-200}
status=0
for seed in $(seq 1001 1010); do
  a=$("$sim" --seed "$seed" --seconds 10 | tail -1)
  b=$("$sim" --seed "$seed" --seconds 10 | tail -1)
  if [ "$a" != "$b" ]; then
    echo "sim-check: seed $seed is not deterministic:"
    echo "  $a"
    echo "  $b"
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "sim-check: 10 seeds ran twice with identical traces"
"$sim" --seeds "1..$seeds" --seconds 10 | grep -E "FAILED|seeds,"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
exit $status
