"""`cluster.dead_node_removal_enabled = false`: a dead node keeps its place.

By default a convicted node leaves the replica sets of its namespaces and the
cluster restores R copies on the others (test_cluster_kill.py). With removal
off (for rolling restarts: a node down for a minute should not make the
cluster copy its data elsewhere and back), the dead node stays in its
namespaces' replica sets: the survivors keep serving reads and taking writes
(a namespace it led fails over to its other copy), run with one copy fewer
(under-replicated, as /cluster/status says), and copy nothing to the third
node. When it returns it catches up and every entry has R copies again,
nothing lost.
"""
from __future__ import annotations

import random
from typing import Dict, List, Set, Tuple

import pytest

from cluster_harness import Cluster, Deadline, poll_until
from cluster_load import Checker, Entry, insert_known, make_entry, namespaces

IDS = ["n1", "n2", "n3"]
SURVIVORS = ["n2", "n3"]


def copy_sets(c: Cluster, ids: List[str]) -> Dict[str, Set[str]]:
    """namespace -> its leader and the replicas the leader names."""
    out: Dict[str, Set[str]] = {}
    for i in ids:
        for name, ns in c.status(i).get("namespaces", {}).items():
            if ns.get("role") == "primary":
                out[name] = {i, *ns.get("replicas", [])}
    return out


def name_of(e: Entry) -> str:
    """The namespace's name as /cluster/status shows it."""
    return f"{e.model_id}::{e.cache_scope}" if e.cache_scope else e.model_id


def insert_each(c: Cluster, entries: List[Entry], acked: Set[str], via: List[str]) -> Tuple[bool, str]:
    """Inserts each entry not acknowledged yet (a namespace may still be failing over)."""
    for k, e in enumerate(e for e in entries if e.uuid not in acked):
        status, _ = c[via[k % len(via)]].call("POST", "/insert", e.insert_body())
        if status == 200:
            acked.add(e.uuid)
    left = [e.uuid for e in entries if e.uuid not in acked]
    return not left, f"{len(left)} inserts not acknowledged yet, e.g. {left[:3]}"


@pytest.mark.cluster
@pytest.mark.timeout(120)
def test_a_dead_node_keeps_its_place_when_removal_is_off(cluster):
    budget = Deadline(110)
    c = cluster(3, env={"FERROCACHE_CLUSTER__DEAD_NODE_REMOVAL_ENABLED": "false"})
    rng = random.Random(20261207)
    nss = namespaces(4, 3)
    old = insert_known(c, 60, rng, nss, prefix="before")
    checker = Checker(c)
    checker.wait_copies(old, timeout=budget.cap(20))
    c.wait_fully_replicated(timeout=budget.cap(20))
    sets_before = copy_sets(c, IDS)
    with_n1 = {name for name, s in sets_before.items() if "n1" in s}
    assert with_n1 and len(with_n1) < len(sets_before), sets_before

    c.kill("n1")
    poll_until(lambda: (all(c.peer_state(i, "n1") == "dead" for i in SURVIVORS), "n1 not convicted yet"),
               budget.cap(10), "n2 and n3 to convict n1")
    # Writes go on in every namespace, those n1 led included (their other copy takes over).
    fresh = [make_entry(rng, f"during-{k}", ns) for k, ns in enumerate(nss)]
    acked: Set[str] = set()
    poll_until(lambda: insert_each(c, fresh, acked, SURVIVORS), budget.cap(20),
               "an insert into every namespace while n1 is down")
    # n1 keeps its place in every copy set it had; nobody else joins them.
    sets_down = copy_sets(c, SURVIVORS)
    print(f"copy sets before: {sets_before}\nwith n1 down: {sets_down}")
    assert sets_down == sets_before, {n: (s, sets_down.get(n)) for n, s in sets_before.items() if sets_down.get(n) != s}
    # Each leader of a namespace n1 held counts it under-replicated (the board follows within a tick).
    poll_until(lambda: (sum(c.status(i)["under_replicated_namespaces"] for i in SURVIVORS) == len(with_n1),
                        f"{[c.status(i)['under_replicated_namespaces'] for i in SURVIVORS]} of {len(with_n1)}"),
               budget.cap(5), "the namespaces n1 held to show as under-replicated")
    # ... and no data moved: every entry is held only inside its namespace's copy set.
    holders = checker.holders(old + fresh, SURVIVORS)
    strays = [(e.uuid, holders[e.uuid], sets_before[name_of(e)]) for e in old + fresh
              if not set(holders[e.uuid]) <= sets_before[name_of(e)]]
    assert not strays, strays[:5]

    c.restart("n1")
    c.wait_formed(timeout=budget.cap(20))
    c.wait_fully_replicated(timeout=budget.cap(30))
    final = checker.wait_copies(old + fresh, timeout=budget.cap(20))
    routed = checker.wait_routed(old + fresh, via=IDS, timeout=budget.cap(15))
    assert not routed.missing, f"lost: {list(routed.missing.items())[:5]}"
    poll_until(lambda: (copy_sets(c, IDS) == sets_before, f"{copy_sets(c, IDS)}"), budget.cap(10),
               "every namespace led again, by the copy set it had")
    assert all(len(h) == 2 for h in final.values()), {u: h for u, h in final.items() if len(h) != 2}
