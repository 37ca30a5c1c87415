"""A node that comes back with the same id but an empty disk (a replaced drive)
is refilled from its peers: every entry gets its two copies again and the
new node answers for everything.

The danger is a node that trusts its own (empty) state: it must not answer
"miss" for namespaces it is supposed to hold, and must not make its peers drop
their copies to match it.
"""
from __future__ import annotations

import random

import pytest

from cluster_harness import Deadline
from cluster_load import Checker, insert_known, namespaces

SEED = 20261203
IDS = ["n1", "n2", "n3"]


@pytest.mark.cluster
@pytest.mark.timeout(150)
def test_a_node_restarted_with_an_empty_disk_is_refilled(cluster):
    budget = Deadline(85)
    c = cluster(3)
    entries = insert_known(c, 300, random.Random(SEED), namespaces(3, 2), via=IDS)
    checker = Checker(c)
    held_before = checker.wait_copies(entries, timeout=budget.cap(20))
    n2_before = sum(1 for h in held_before.values() if "n2" in h)
    # Feedback on hits builds each namespace's quality model; it is not an
    # entry, so the refill must carry it apart from the entries.
    verdicts = {}
    for k, e in enumerate(entries[:24]):
        body = {"id": e.uuid, "model_id": e.model_id, "similarity": 0.9 + (k % 10) / 100, "correct": k % 3 > 0}
        if e.cache_scope:
            body["cache_scope"] = e.cache_scope
        status, reply = c[IDS[k % 3]].call("POST", "/feedback", body)
        assert status == 200, (body, status, reply)
        name = f"{e.model_id}::{e.cache_scope}" if e.cache_scope else e.model_id
        verdicts[name] = verdicts.get(name, 0) + 1

    generation_before = c["n1"].status()["peer_health"]["n2"]["generation"]
    c.kill("n2")
    c.restart("n2", empty=True, ready_timeout=budget.cap(30))
    rejoin_s = c.wait_formed(timeout=budget.cap(20))
    held = checker.wait_copies(entries, timeout=budget.cap(30))
    routed = checker.wait_routed(entries, via=["n2"], timeout=budget.cap(15))
    settle_s = c.wait_fully_replicated(timeout=budget.cap(10))
    n2_after = sum(1 for h in held.values() if "n2" in h)
    print(f"seed={SEED} entries={len(entries)} n2 held {n2_before} before the wipe and {n2_after} after; "
          f"rejoined in {rejoin_s:.2f}s, replication settled {settle_s:.2f}s later; "
          f"routed misses through n2={len(routed.missing)} (late {routed.late}); "
          f"entries with > 2 copies={sum(1 for h in held.values() if len(h) > 2)}")
    assert not routed.missing, f"n2 does not answer for {list(routed.missing.items())[:5]}"
    # A restarted process is a new generation of n2 to its peers.
    assert c["n1"].status()["peer_health"]["n2"]["generation"] != generation_before
    # The refill went by images (n2 had no copy to compare), and the
    # metrics say so: finished image catch-ups with at least n2's records.
    images = sum(c[i].metrics().get('ferrocache_catchups_total{path="image"}', 0) for i in ("n1", "n3"))
    image_records = sum(c[i].metrics().get('ferrocache_catchup_records_total{path="image"}', 0)
                        for i in ("n1", "n3"))
    shipped = sum(c[i].metrics().get("ferrocache_replication_writes_total", 0) for i in IDS)
    print(f"image catch-ups={images:.0f} records={image_records:.0f}; records shipped live={shipped:.0f}")
    assert images >= 1
    # Every copy n2 got back has the quality model its namespace had.
    models = {}
    for i in IDS:
        for name, ns in c[i].call("GET", "/stats")[1]["namespaces"].items():
            models.setdefault(name, {})[i] = (ns.get("quality") or {}).get("feedback_total", 0)
    print(f"feedback per namespace, by node: {models}")
    for name, count in verdicts.items():
        assert all(n == count for n in models[name].values()), (name, count, models[name])
    assert any("n2" in held for held in models.values())
    assert image_records >= n2_after
    assert shipped > 0  # (writes that found no replica in sync yet reach them by catch-up instead)
