#!/usr/bin/env bash
# The simulator's part of `make test` (docs/simulation.md):
#   1. the same seed twice gives the same trace, for 10 seeds (3-node lite
#      and 5-node swarm);
#   2. sweeps of SIM_SEEDS (default 200) seeds pass: 3-node lite and 5-node
#      swarm (partitions, lost frames, full disks), and 100 seeds each of a
#      3-node and a 5-node swarm with crashes and restarts;
#   3. each planted bug (--break NAME) is caught within seeds 1..40.
# Longer sweeps: `make sim SEEDS=10000`.
set -uo pipefail
build=${1:-build}
sim="$build/ferrocache-sim"
seeds=${SIM_SEEDS:-200}
status=0
same_twice() {
  local seed=$1
  shift
  local a b
  a=$("$sim" --seed "$seed" --seconds 10 "$@" | tail -1)
  b=$("$sim" --seed "$seed" --seconds 10 "$@" | tail -1)
  if [ "$a" != "$b" ]; then
    echo "sim-check: seed $seed ($*) is not deterministic:"
    echo "  $a"
    echo "  $b"
    status=1
  fi
}
for seed in $(seq 1001 1005); do same_twice "$seed"; done
for seed in $(seq 1006 1010); do same_twice "$seed" --nodes 5 --profile swarm; done
[ "$status" -eq 0 ] && echo "sim-check: 10 seeds ran twice with identical traces"
"$sim" --seeds "1..$seeds" --seconds 10 | grep -E "FAILED|seeds,"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
"$sim" --seeds "1..$seeds" --seconds 10 --nodes 5 --profile swarm | grep -E "FAILED|seeds,"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
for nodes in 3 5; do
  "$sim" --seeds 1..100 --seconds 10 --nodes "$nodes" --profile swarm --crashes | grep -E "FAILED|seeds,"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
# The checkers bite: every planted bug must make some seed fail.
for bug in ack-before-replication no-epoch-fencing ignore-scope apply-removal-before-durable; do
  first=$("$sim" --seeds 1..40 --seconds 10 --profile swarm --break "$bug" | grep -m1 FAILED)
  if [ -n "$first" ]; then
    echo "sim-check: --break $bug caught: $first"
  else
    echo "sim-check: --break $bug was NOT caught in seeds 1..40"
    status=1
  fi
done
exit $status
