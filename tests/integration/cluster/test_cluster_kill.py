"""kill -9 of one node of three (R=2) under write load loses no acknowledged write.

Writers spread over all three nodes; n1 dies without warning once about a third
of the planned writes are acknowledged. Its writers move to the survivors,
and writes routed to it fail over. Afterwards both survivors must answer every
acknowledged uuid, and once n1 is back with its data every acknowledged entry
must have two copies again and no namespace may be under-replicated.
"""
from __future__ import annotations

import time

import pytest

from cluster_harness import Deadline, poll_until
from cluster_load import Checker, WriteLoad, namespaces

SEED = 20261201


@pytest.mark.cluster
@pytest.mark.timeout(150)
def test_kill_9_of_one_node_under_write_load_loses_no_acknowledged_write(cluster):
    budget = Deadline(88)
    c = cluster(3)
    # 16 namespaces, so that n1 is almost surely primary for some of them (placement is by namespace).
    load = WriteLoad(c, threads=20, per_thread=120, pace=0.02, max_seconds=30, write_deadline=10,
                     nss=namespaces(4, 4), via=["n1", "n2", "n3"], seed=SEED).start()
    poll_until(lambda: (load.acked_count() >= load.planned // 3, f"{load.acked_count()} acked"),
               budget.cap(30), "a third of the planned writes to be acknowledged")
    acked_before_kill = load.acked_count()
    killed_at = c.kill("n1")
    for survivor in ("n2", "n3"):
        poll_until(lambda: (c.peer_state(survivor, "n1") != "alive", c.peer_state(survivor, "n1")),
                   budget.cap(5), f"{survivor} to notice that n1 died")
    noticed_s = time.monotonic() - killed_at

    load.join(timeout=budget.cap(45))
    acked = load.acked_entries()
    # Both survivors answer for everything acknowledged, before n1 comes back.
    routed = Checker(c).wait_routed(acked, via=["n2", "n3"], timeout=budget.cap(15))
    lost = sorted({uuid for uuid, _ in routed.missing})

    s = load.summary()
    print(f"seed={SEED} planned={load.planned} acked={s['acked']} (before kill {acked_before_kill}, "
          f"after {load.acked_since(killed_at)}) lost={len(lost)} failed_writes={s['failed_writes']} "
          f"rejected={s['rejected']} retried={s['retried_writes']} "
          f"longest_write_outage={s['longest_write_outage_s']}s longest_ack_gap={s['longest_ack_gap_s']}s "
          f"kill_noticed_in={noticed_s:.3f}s routed_late={routed.late} load={s['duration_s']}s")
    if s["last_failure"]:
        print(f"last failed write: {s['last_failure']}")

    c.restart("n1", ready_timeout=budget.cap(30))
    rejoin_s = c.wait_formed(timeout=budget.cap(20))
    holders = Checker(c).wait_copies(acked, timeout=budget.cap(30))
    settle_s = c.wait_fully_replicated(timeout=budget.cap(10))
    print(f"n1 rejoined in {rejoin_s:.2f}s; every acked entry has >= 2 copies, "
          f"{sum(1 for h in holders.values() if len(h) > 2)} have more; replication settled {settle_s:.2f}s later")

    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {list(routed.missing.items())[:5]}"
    assert not load.rejected, f"writes refused with a non-retryable status: {load.rejected[:5]}"
    assert load.acked_since(killed_at) > 0, "no write was acknowledged after the kill"
    assert s["acked"] >= load.planned // 2, "the load acknowledged too little to mean anything"
