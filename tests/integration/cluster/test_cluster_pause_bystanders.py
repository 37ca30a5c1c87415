"""The return of a paused node does not depose the leaders that never stopped.

While n1 is stopped (SIGSTOP), its peers convict it and take over what it led;
n2 and n3 keep leading what they led. When n1 resumes, the verdicts it held
during its pause are stale: it heard nothing because it ran nothing, not
because n2 and n3 failed. If it convicts them on that evidence and tells them
so, they step down from every namespace and the whole cluster re-elects
(the writes of every namespace stall, not only those n1 had led).

So: every namespace that n2 or n3 led before the pause and that placement
keeps on them must have the same leader at the same epoch after n1 is back
and the cluster has converged.
"""
from __future__ import annotations

import random
import time
from typing import Dict, Tuple

import pytest

from cluster_harness import Cluster, Deadline, poll_until
from cluster_load import DIM, Checker, Entry, rand_vec

IDS = ["n1", "n2", "n3"]
NAMESPACES = 24
PAUSE_S = 6.0


def leaders(c: Cluster, ids) -> Dict[str, Tuple[str, int]]:
    """namespace -> (leader, epoch), as the leaders themselves report it."""
    out: Dict[str, Tuple[str, int]] = {}
    for i in ids:
        for name, ns in c.status(i).get("namespaces", {}).items():
            if ns.get("role") == "primary":
                out[name] = (i, ns["epoch"])
    return out


@pytest.mark.cluster
@pytest.mark.timeout(120)
def test_a_resumed_node_does_not_depose_the_leaders_that_kept_running(cluster):
    budget = Deadline(100)
    c = cluster(3)
    rng = random.Random(20261207)
    entries = [Entry(f"bystander-{k}", tuple(rand_vec(rng)), f"bystander-{k}::{DIM}") for k in range(NAMESPACES)]
    for k, e in enumerate(entries):
        status, reply = c[IDS[k % 3]].call("POST", "/insert", e.insert_body())
        assert status == 200, (e.model_id, status, reply)
    Checker(c).wait_copies(entries, timeout=budget.cap(20))
    c.wait_fully_replicated(timeout=budget.cap(20))
    before = leaders(c, IDS)
    assert len(before) == NAMESPACES, before
    kept = {name: held for name, held in before.items() if held[0] != "n1"}
    assert kept, f"n1 leads every namespace: {before}"

    paused_at = c.pause("n1")
    # n2 and n3 convict n1 and take over what it led.
    poll_until(lambda: (c.peer_state("n2", "n1") == "dead" and c.peer_state("n3", "n1") == "dead",
                        f"n2 sees n1 {c.peer_state('n2', 'n1')}, n3 sees n1 {c.peer_state('n3', 'n1')}"),
               budget.cap(15), "n2 and n3 to convict the paused n1")
    poll_until(lambda: (len(leaders(c, ["n2", "n3"])) == NAMESPACES, f"{len(leaders(c, ['n2', 'n3']))} led"),
               budget.cap(20), "n2 and n3 to lead every namespace")
    # The pause lasts long enough for n1's phi (if it still judged by it) to convict both peers.
    c.watch_peer("n2", "n1", max(0.0, PAUSE_S - (time.monotonic() - paused_at)))
    c.resume("n1")
    c.wait_formed(timeout=budget.cap(20))
    c.wait_fully_replicated(timeout=budget.cap(30))
    after = leaders(c, IDS)
    print(f"led by n2/n3 before the pause: {len(kept)}; after: {after}")
    deposed = {name: (held, after.get(name)) for name, held in kept.items() if after.get(name) != held}
    assert not deposed, f"{len(deposed)} of {len(kept)} leaders that kept running were replaced: {deposed}"
