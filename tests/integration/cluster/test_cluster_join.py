"""A fourth node joins a cluster that holds data: it becomes a member everyone
sees alive, the data keeps (at least) two copies while placement moves, and the
newcomer answers routed queries for every entry.

Exactly two copies once rebalancing has settled is the goal but is only
printed: a copy kept a little longer on the node that handed a namespace over
is not a fault.
"""
from __future__ import annotations

import random

import pytest

from cluster_harness import Deadline
from cluster_load import Checker, insert_known, namespaces

SEED = 20261204
OLD = ["n1", "n2", "n3"]


@pytest.mark.cluster
@pytest.mark.timeout(150)
def test_a_fourth_node_joins_takes_its_share_and_answers_for_everything(cluster):
    budget = Deadline(85)
    c = cluster(3)
    entries = insert_known(c, 300, random.Random(SEED), namespaces(3, 2), via=OLD)
    checker = Checker(c)
    checker.wait_copies(entries, timeout=budget.cap(20))
    epochs_before = {i: c.status(i).get("placement_epoch") for i in OLD}

    c.add("n4", seeds=[c[i].peer_address for i in OLD])
    c.start(["n4"], ready_timeout=budget.cap(30))
    join_s = c.wait_formed(["n1", "n2", "n3", "n4"], timeout=budget.cap(20))
    checker.wait_copies(entries, node_ids=c.ids, timeout=budget.cap(30))
    routed = checker.wait_routed(entries, via=["n4"], timeout=budget.cap(15))
    settle_s = c.wait_fully_replicated(timeout=budget.cap(10))
    held = checker.holders(entries)
    epochs_after = {i: c.status(i).get("placement_epoch") for i in c.ids}
    print(f"seed={SEED} entries={len(entries)} n4 formed in {join_s:.2f}s, replication settled {settle_s:.2f}s "
          f"later; n4 holds {sum(1 for h in held.values() if 'n4' in h)} entries; "
          f"copies: ==2 {sum(1 for h in held.values() if len(h) == 2)}, "
          f">2 {sum(1 for h in held.values() if len(h) > 2)}; routed misses through n4={len(routed.missing)} "
          f"(late {routed.late}); placement_epoch {epochs_before} -> {epochs_after}")
    assert not routed.missing, f"n4 does not answer for {list(routed.missing.items())[:5]}"
    short = {u: h for u, h in held.items() if len(h) < 2}
    assert not short, f"entries below two copies after settling: {list(short.items())[:5]}"
