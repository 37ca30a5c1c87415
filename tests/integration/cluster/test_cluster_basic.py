"""Three nodes, R=2, nothing failing: any node answers any request, and what is
written, deleted or invalidated through one node is seen that way through all.

The tests share one cluster; each uses its own namespace (model_id), since
placement is by namespace and no test may see another's entries.
"""
from __future__ import annotations

import random
from typing import Any, Dict, List

import pytest

from cluster_harness import Cluster, is_int, is_number, poll_until
from cluster_load import DIM, Checker, Entry, rand_vec
from helpers import with_similarity

pytestmark = pytest.mark.timeout(120)
IDS = ["n1", "n2", "n3"]


@pytest.fixture(scope="module")
def trio(module_cluster) -> Cluster:
    return module_cluster(3)


@pytest.fixture(scope="module")
def checker(trio) -> Checker:
    return Checker(trio)


def insert(c: Cluster, node: str, entry: Entry, **extra: Any) -> None:
    body = entry.insert_body()
    body.update(extra)
    status, reply = c[node].call("POST", "/insert", body)
    assert (status, reply) == (200, {"id": entry.uuid, "status": "ok"}), f"insert via {node}"


def query(c: Cluster, node: str, body: Dict[str, Any]) -> Dict[str, Any]:
    status, reply = c[node].call("POST", "/query", body)
    assert status == 200 and isinstance(reply, dict), f"query via {node}: {status} {reply}"
    return reply


def test_cluster_status_describes_the_formed_cluster(trio, checker):
    # Something to place, so under_replicated_namespaces has something to count.
    e = Entry("status-0", tuple(rand_vec(random.Random(1))), f"status::{DIM}")
    insert(trio, "n2", e)
    checker.wait_copies([e], timeout=10)
    trio.wait_fully_replicated(timeout=10)
    generations: Dict[str, set] = {p: set() for p in IDS}
    for i in IDS:
        st = trio.status(i)
        print(i, st)
        assert st["mode"] == "clustered"
        assert st["self_node_id"] == i
        assert st["nodes"] == IDS and st["node_count"] == 3
        assert st["replication_factor"] == 2
        assert isinstance(st.get("read_repair_enabled"), bool)  # docs/api.md lists it
        assert sorted(st["peer_health"]) == [p for p in IDS if p != i]
        for peer, h in st["peer_health"].items():
            assert h["status"] == "alive", (i, peer, h)
            assert is_number(h["phi"]) and h["phi"] >= 0, (i, peer, h)
            assert h["address"] == trio[peer].peer_address, (i, peer, h)
            assert len(h["generation"]) == 16 and int(h["generation"], 16) > 0, (i, peer, h)
            generations[peer].add(h["generation"])
        assert st["dead_nodes"] == []
        assert is_int(st["under_replicated_namespaces"]) and st["under_replicated_namespaces"] == 0
        assert is_int(st["placement_epoch"]) and st["placement_epoch"] >= 0
    # Every node knows each peer by the same generation (its process's incarnation).
    assert all(len(g) == 1 for g in generations.values()), generations


def test_insert_on_one_node_is_found_exactly_and_by_paraphrase_on_the_others(trio, checker):
    rng = random.Random(2)
    e = Entry("basic-0", tuple(rand_vec(rng)), f"basic::{DIM}", "tenant")
    insert(trio, "n1", e)
    paraphrase = with_similarity(list(e.vector), 0.98, rng)  # "the same question, worded differently"
    for node in ("n2", "n3"):
        assert e.answered_by(query(trio, node, e.query_body())), node
        hit = query(trio, node, {"embedding": paraphrase, "model_id": e.model_id, "cache_scope": "tenant",
                                 "threshold": 0.95})
        assert e.answered_by(hit), (node, hit)
        assert hit["similarity"] == pytest.approx(0.98, abs=2e-3) and hit["exact_match"] is False
        # Another tenant of the same model never sees it.
        other = dict(e.query_body(), cache_scope="other-tenant")
        assert query(trio, node, other) == {"hit": False}
    holders = checker.wait_copies([e], timeout=10)
    print(f"{e.uuid} held by {holders[e.uuid]}")


def test_conversation_entries_follow_the_conversation_across_nodes(trio):
    rng = random.Random(3)
    model = f"conv::{DIM}"
    glob = Entry("conv-global", tuple(rand_vec(rng)), model, "tenant")
    conv = Entry("conv-own", tuple(rand_vec(rng)), model, "tenant")
    insert(trio, "n1", glob)
    insert(trio, "n2", conv, conversation_id="c-1")

    hit = query(trio, "n3", dict(conv.query_body(), conversation_id="c-1"))
    assert conv.answered_by(hit) and hit["scope"] == "conversation", hit
    hit = query(trio, "n3", dict(glob.query_body(), conversation_id="c-1"))
    assert glob.answered_by(hit) and hit["scope"] == "global", hit  # the fallback to the tenant's namespace
    # Without the conversation, or in another one, the conversation's entry does not exist.
    assert query(trio, "n1", conv.query_body()) == {"hit": False}
    assert query(trio, "n3", dict(conv.query_body(), conversation_id="c-2")) == {"hit": False}


def test_delete_through_any_node_removes_every_copy(trio, checker):
    e = Entry("del-0", tuple(rand_vec(random.Random(4))), f"del::{DIM}", "tenant")
    keep = Entry("del-keep", tuple(rand_vec(random.Random(5))), f"del::{DIM}", "tenant")
    insert(trio, "n1", e)
    insert(trio, "n1", keep)
    checker.wait_copies([e, keep], timeout=10)

    assert trio["n3"].call("DELETE", f"/entry/{e.uuid}") == (200, {"deleted": True})
    # Acknowledged means durable everywhere: no copy may answer from now on, local or routed.
    assert checker.answered_anywhere([e], IDS) == []
    status, body = trio["n2"].call("DELETE", f"/entry/{e.uuid}")
    assert status == 404 and isinstance(body.get("error"), str), body
    assert len(checker.wait_copies([keep], timeout=10)[keep.uuid]) >= 2


def test_invalidate_through_one_node_removes_within_the_radius_everywhere(trio, checker):
    rng = random.Random(6)
    model = f"inv::{DIM}"
    probe = rand_vec(rng)
    near = [Entry("inv-near-99", tuple(with_similarity(probe, 0.99, rng)), model, "tenant"),
            Entry("inv-near-97", tuple(with_similarity(probe, 0.97, rng)), model, "tenant")]
    far = Entry("inv-far", tuple(with_similarity(probe, 0.5, rng)), model, "tenant")
    insert(trio, "n1", near[0])
    insert(trio, "n3", near[1])
    insert(trio, "n1", far)
    checker.wait_copies(near + [far], timeout=10)

    status, body = trio["n2"].call("POST", "/admin/invalidate",
                                   {"embedding": probe, "threshold": 0.95, "model_id": model, "cache_scope": "tenant"})
    assert status == 200, body
    assert body["invalidated_count"] == 2 and sorted(body["uuids"]) == sorted(e.uuid for e in near), body
    assert checker.answered_anywhere(near, IDS) == []
    assert len(checker.wait_copies([far], timeout=10)[far.uuid]) >= 2
    for node in IDS:
        assert far.answered_by(query(trio, node, far.query_body())), node


def counts(c: Cluster) -> Dict[str, Any]:
    out = {}
    for i in IDS:
        status, body = c[i].call("GET", "/stats")
        assert status == 200, body
        out[i] = (body["entry_count"], body["namespaces"].get(f"bad::{DIM}::tenant"))
    return out


BAD_REQUESTS: List[Any] = [
    ("POST", "/insert", {"embedding": [0.1] * 16, "response": "r", "query_text": "", "model_id": f"bad::{DIM}",
                         "cache_scope": "tenant"}),  # the namespace is 32-dimensional
    ("POST", "/query", {"embedding": [0.1] * 16, "model_id": f"bad::{DIM}", "cache_scope": "tenant"}),
    ("POST", "/admin/invalidate", {"embedding": [0.1] * 16, "threshold": 0.9, "model_id": f"bad::{DIM}",
                                   "cache_scope": "tenant"}),
    ("POST", "/insert", {"embedding": [0.0] * DIM, "response": "r", "query_text": "", "model_id": f"bad::{DIM}",
                         "cache_scope": "tenant"}),
    ("POST", "/insert", {"embedding": [0.1] * DIM, "response": "r", "query_text": "", "model_id": f"bad::{DIM}",
                         "cache_scope": "tenant", "uuid": "a/b"}),
    ("POST", "/insert", {"embedding": [0.1] * DIM, "response": "r", "query_text": "", "model_id": "  ",
                         "cache_scope": "tenant"}),
    ("POST", "/query", {"embedding": [0.1] * DIM, "model_id": f"bad::{DIM}", "cache_scope": "tenant",
                        "threshold": 1.5}),
    ("POST", "/query", b"{\"embedding\": [1,2"),
    ("POST", "/insert", b"{\"embedding\": [NaN], \"response\": \"r\", \"query_text\": \"\", \"model_id\": \"m\"}"),
]


@pytest.mark.parametrize("via", ["n1", "n2", "n3"])
def test_bad_input_on_a_clustered_node_is_a_400_and_changes_nothing(trio, via):
    """Whichever node holds the namespace, the node asked must answer the client's error as a 400
    with a JSON body, not as a routing failure, and no node may have changed."""
    e = Entry(f"bad-base-{via}", tuple(rand_vec(random.Random(f"bad-{via}"))), f"bad::{DIM}", "tenant")
    insert(trio, "n1", e)
    poll_until(lambda: (all(e.answered_by(trio[i].call("POST", "/query", e.query_body())[1]) for i in IDS), ""),
               10, "the base entry to be served by every node")
    before = counts(trio)
    for method, path, body in BAD_REQUESTS:
        if isinstance(body, bytes):
            status, reply = trio[via].call(method, path, raw=body)
        else:
            status, reply = trio[via].call(method, path, body)
        assert status == 400, (via, path, body if isinstance(body, bytes) else list(body), status, reply)
        assert isinstance(reply, dict) and isinstance(reply.get("error"), str) and reply["error"], reply
    assert counts(trio) == before
    for i in IDS:
        assert e.answered_by(query(trio, i, e.query_body())), i
        assert trio[i].call("GET", "/health")[0] == 200


BACKLOG_QUEUES = ("peer_calls", "replication_batches", "held_requests")


def test_backlog_gauges_are_exported_and_drain_once_the_work_is_done(trio, checker):
    """Every node exports its cluster actor's work in flight by queue; once the requests are answered
    and the replicas caught up, every queue of every node is empty again (an entry nothing removes
    would keep its gauge up for good)."""
    rng = random.Random(7)
    model = f"backlog::{DIM}"
    entries = [Entry(f"backlog-{i}", tuple(rand_vec(rng)), model, f"tenant-{i % 3}") for i in range(30)]
    for i, e in enumerate(entries):
        insert(trio, IDS[i % 3], e)  # most are forwarded to their primary, then shipped to a replica
        for node in IDS:  # and read through every node, forwarded where the node holds no copy
            assert e.answered_by(query(trio, node, e.query_body())), (node, e.uuid)
    checker.wait_copies(entries, timeout=20)

    def drained():
        gauges = {i: {q: trio[i].metrics().get(f'ferrocache_cluster_backlog{{queue="{q}"}}') for q in BACKLOG_QUEUES}
                  for i in IDS}
        missing = [(i, q) for i in IDS for q in BACKLOG_QUEUES if gauges[i][q] is None]
        assert not missing, f"not exported: {missing}"
        busy = {i: g for i, g in gauges.items() if any(v != 0 for v in g.values())}
        return not busy, f"still in flight: {busy}"

    poll_until(drained, 10, "every node's cluster backlog to drain")
