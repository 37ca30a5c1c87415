"""Every data route of API.md against a real node over HTTP."""
from __future__ import annotations

import random
import re
import uuid as uuidlib

import pytest

from helpers import Api, rand_vec, wait_until, with_similarity

SEED = 20261126
DIM = 32


@pytest.fixture
def api(node):
    return Api(node.port)


@pytest.fixture
def rng():
    print(f"seed={SEED}")
    return random.Random(SEED)


def test_insert_then_query_same_vector_is_a_hit(api, rng):
    v = rand_vec(rng, DIM)
    status, body = api.insert(v, response="Paris", query_text="capital of France?")
    assert status == 200, body
    assert body["status"] == "ok"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", body["id"])
    status, hit = api.query(v)
    assert status == 200
    assert hit["hit"] is True
    assert hit["id"] == body["id"]
    assert hit["response"] == "Paris"
    assert hit["exact_match"] is False
    assert hit["similarity"] == pytest.approx(1.0, abs=1e-5)
    assert "scope" not in hit


def test_unrelated_vector_is_exactly_a_miss(api, rng):
    api.insert(rand_vec(rng, DIM))
    status, body = api.query(rand_vec(rng, DIM))
    assert status == 200
    assert body == {"hit": False}


def test_query_of_unknown_namespace_is_a_miss(api, rng):
    assert api.query(rand_vec(rng, DIM), model_id="never-used") == (200, {"hit": False})


def test_threshold_boundary_decides_hit_or_miss(api, rng):
    base = rand_vec(rng, DIM)
    api.insert(base, response="base")
    probe = with_similarity(base, 0.90, rng)
    status, hit = api.query(probe, threshold=0.89)
    assert hit["hit"] is True
    assert hit["similarity"] == pytest.approx(0.90, abs=1e-4)
    assert api.query(probe, threshold=0.91)[1] == {"hit": False}
    assert api.query(probe, threshold=0.0)[1]["hit"] is True
    assert api.query(base, threshold=1.0)[1]["hit"] is True


def test_default_threshold_is_0_92(api, rng):
    base = rand_vec(rng, DIM)
    api.insert(base)
    assert api.query(with_similarity(base, 0.93, rng))[1]["hit"] is True
    assert api.query(with_similarity(base, 0.91, rng))[1] == {"hit": False}


def test_configured_default_threshold_applies(make_node, rng):
    api = Api(make_node(FERROCACHE_HNSW__DEFAULT_THRESHOLD="0.5").port)
    base = rand_vec(rng, DIM)
    api.insert(base)
    assert api.query(with_similarity(base, 0.6, rng))[1]["hit"] is True


def test_exact_text_match_is_normalised_and_beats_the_threshold(api, rng):
    api.insert(rand_vec(rng, DIM), response="exact", query_text="What  is\tthe CAPITAL of France?")
    status, hit = api.query(rand_vec(rng, DIM), query_text="  what is the capital   of france? ", threshold=1.0)
    assert hit["hit"] is True
    assert hit["exact_match"] is True
    assert hit["similarity"] == 1.0
    assert hit["response"] == "exact"


def test_blank_query_text_never_matches_exactly(api, rng):
    api.insert(rand_vec(rng, DIM), query_text="   ")
    assert api.query(rand_vec(rng, DIM), query_text="   ", threshold=0.99)[1] == {"hit": False}
    assert api.query(rand_vec(rng, DIM), query_text="", threshold=0.99)[1] == {"hit": False}


def test_models_and_scopes_are_isolated_even_when_names_collide(api, rng):
    v = rand_vec(rng, DIM)
    assert api.insert(v, response="a::b", model_id="a::b")[0] == 200
    # Same display name "a::b" but a different namespace.
    assert api.query(v, model_id="a", cache_scope="b")[1] == {"hit": False}
    assert api.query(v, model_id="a")[1] == {"hit": False}
    assert api.query(v, model_id="a::b", cache_scope="b")[1] == {"hit": False}
    api.insert(v, response="tenant-b", model_id="a", cache_scope="b")
    assert api.query(v, model_id="a", cache_scope="b")[1]["response"] == "tenant-b"
    assert api.query(v, model_id="a::b")[1]["response"] == "a::b"
    assert api.query(v, model_id="a", cache_scope="c")[1] == {"hit": False}
    # Exact text does not cross namespaces either.
    api.insert(rand_vec(rng, DIM), query_text="secret question", model_id="m", cache_scope="t1")
    assert api.query(rand_vec(rng, DIM), query_text="secret question", model_id="m", cache_scope="t2")[1] == {"hit": False}


def test_blank_scope_counts_as_absent(api, rng):
    v = rand_vec(rng, DIM)
    api.insert(v, response="global", cache_scope="  ")
    assert api.query(v)[1]["response"] == "global"


def test_conversation_query_falls_back_to_the_global_namespace(api, rng):
    g = rand_vec(rng, DIM)
    c = rand_vec(rng, DIM)
    api.insert(g, response="global answer", cache_scope="t")
    api.insert(c, response="conversation answer", cache_scope="t", conversation_id="c1")
    hit = api.query(c, cache_scope="t", conversation_id="c1")[1]
    assert (hit["response"], hit["scope"]) == ("conversation answer", "conversation")
    hit = api.query(g, cache_scope="t", conversation_id="c1")[1]
    assert (hit["response"], hit["scope"]) == ("global answer", "global")
    # Without conversation_id, conversation entries stay invisible.
    assert api.query(c, cache_scope="t")[1] == {"hit": False}
    # Other conversations do not see c1.
    assert api.query(c, cache_scope="t", conversation_id="c2")[1] == {"hit": False}


def test_conversation_entries_get_the_configured_ttl_and_then_disappear(make_node, rng):
    api = Api(make_node(FERROCACHE_CONVERSATION_TTL_SECONDS="1", FERROCACHE_EXPIRE_SCAN_INTERVAL_SECS="1").port)
    v = rand_vec(rng, DIM)
    api.insert(v, conversation_id="conv")
    api.insert(rand_vec(rng, DIM), ttl_seconds=0)  # global entry without expiry
    assert api.query(v, conversation_id="conv")[1]["hit"] is True
    wait_until(lambda: api.query(v, conversation_id="conv")[1] == {"hit": False}, what="conversation expiry")
    wait_until(lambda: "m::conv_conv" not in api.call("GET", "/stats")[1]["namespaces"],
               what="conversation namespace to disappear")
    assert api.call("GET", "/stats")[1]["namespaces"]["m"]["entry_count"] == 1


def test_ttl_expiry_hides_then_removes_the_entry(make_node, rng):
    api = Api(make_node(FERROCACHE_EXPIRE_SCAN_INTERVAL_SECS="1").port)
    v = rand_vec(rng, DIM)
    api.insert(v, ttl_seconds=1)
    keep = rand_vec(rng, DIM)
    api.insert(keep)
    wait_until(lambda: api.query(v)[1] == {"hit": False}, what="expiry")
    wait_until(lambda: api.call("GET", "/stats")[1]["counters"]["expirations_total"] == 1, what="expiry scan")
    assert api.call("GET", "/stats")[1]["entry_count"] == 1
    assert api.query(keep)[1]["hit"] is True


def test_lru_cap_evicts_the_least_recently_used(make_node, rng):
    api = Api(make_node(FERROCACHE_HNSW__MAX_ENTRIES_PER_NAMESPACE="3").port)
    vs = [rand_vec(rng, DIM) for _ in range(4)]
    ids = [api.insert(v, response=str(i))[1]["id"] for i, v in enumerate(vs[:3])]
    # Touch 0 so that 1 becomes the least recently used.
    assert api.query(vs[0])[1]["id"] == ids[0]
    api.insert(vs[3], response="3")
    wait_until(lambda: api.call("GET", "/stats")[1]["counters"]["evictions_total"] == 1, what="eviction")
    assert api.query(vs[1], threshold=0.99)[1] == {"hit": False}
    for i in (0, 2, 3):
        assert api.query(vs[i], threshold=0.99)[1]["hit"] is True
    assert api.call("GET", "/stats")[1]["namespaces"]["m"]["entry_count"] == 3


def test_client_uuid_replaces_and_delete_removes_everywhere(api, rng):
    v1, v2 = rand_vec(rng, DIM), rand_vec(rng, DIM)
    assert api.insert(v1, response="one", uuid="my-id")[1]["id"] == "my-id"
    assert api.insert(v2, response="two", uuid="my-id")[1]["id"] == "my-id"
    assert api.query(v1, threshold=0.99)[1] == {"hit": False}
    assert api.query(v2)[1]["response"] == "two"
    api.insert(v1, response="other ns", uuid="my-id", model_id="other")
    assert api.call("DELETE", "/entry/my-id") == (200, {"deleted": True})
    assert api.query(v2)[1] == {"hit": False}
    assert api.query(v1, model_id="other")[1] == {"hit": False}
    status, body = api.call("DELETE", "/entry/my-id")
    assert status == 404 and "error" in body
    assert api.call("GET", "/stats")[1]["counters"]["deletions_total"] == 2


def test_invalidate_removes_everything_within_the_radius(api, rng):
    center = rand_vec(rng, DIM)
    near = [with_similarity(center, s, rng) for s in (0.99, 0.95, 0.9)]
    far = with_similarity(center, 0.5, rng)
    near_ids = {api.insert(v)[1]["id"] for v in near}
    far_id = api.insert(far)[1]["id"]
    other_ns = api.insert(center, model_id="other")[1]["id"]
    status, body = api.call("POST", "/admin/invalidate", {"embedding": center, "threshold": 0.85, "model_id": "m"})
    assert status == 200
    assert body["invalidated_count"] == 3
    assert set(body["uuids"]) == near_ids
    assert api.query(far, threshold=0.99)[1]["id"] == far_id
    assert api.query(center, model_id="other")[1]["id"] == other_ns
    assert api.call("POST", "/admin/invalidate", {"embedding": center, "threshold": 0.1, "model_id": "nope"})[1] == \
        {"invalidated_count": 0, "uuids": []}
    status, body = api.call("POST", "/admin/invalidate", {"embedding": [1.0] * (DIM + 1), "threshold": 0.5, "model_id": "m"})
    assert status == 400 and "error" in body


def test_entry_stats_lists_the_most_accessed_with_previews(api, rng):
    long_text = "é" * 60
    a, b = rand_vec(rng, DIM), rand_vec(rng, DIM)
    ida = api.insert(a, query_text=long_text)[1]["id"]
    idb = api.insert(b, query_text="short")[1]["id"]
    for _ in range(3):
        api.query(a)
    api.query(b)
    status, body = api.call("GET", "/admin/entry-stats")
    assert status == 200
    top = body["namespaces"]["m"]["top_entries"]
    assert [t["uuid"] for t in top] == [ida, idb]
    assert top[0]["access_count"] == 3
    assert top[0]["query_text_preview"] == "é" * 50 + "..."
    assert top[1]["query_text_preview"] == "short"
    assert top[0]["last_accessed_at"] is not None


def test_stats_count_queries_hits_and_namespaces(api, rng):
    v = rand_vec(rng, DIM)
    api.insert(v, query_text="q")
    api.insert(rand_vec(rng, 8), model_id="small", cache_scope="t")
    api.query(v)
    api.query(rand_vec(rng, DIM), query_text="q")
    api.query(rand_vec(rng, DIM), threshold=0.999)
    status, s = api.call("GET", "/stats")
    assert status == 200
    assert s["entry_count"] == 2
    assert s["hnsw"] == {"max_nb_connection": 16, "ef_construction": 200, "ef_search": 32}
    assert s["namespaces"]["m"]["dimension"] == DIM
    assert s["namespaces"]["small::t"]["entry_count"] == 1
    assert s["namespaces"]["m"]["total_accesses"] == 2
    c = s["counters"]
    assert (c["queries_total"], c["queries_hit"], c["queries_miss"]) == (3, 2, 1)
    assert c["exact_match_hits_total"] == 1
    assert c["inserts_total"] == 2
    assert c["hit_rate"] == pytest.approx(2 / 3)


def test_health_and_cluster_status_in_single_mode(node):
    api = Api(node.port)
    assert api.call("GET", "/health") == (200, {"status": "ok", "node_id": "test-node", "entry_count": 0})
    status, c = api.call("GET", "/cluster/status")
    assert status == 200
    assert c["mode"] == "single"
    assert c["nodes"] == ["test-node"] and c["node_count"] == 1
    assert c["self_node_id"] == "test-node"
    assert c["dead_nodes"] == [] and c["peer_health"] == {}


def test_compact_reports_entries_and_sequence(api, rng):
    for _ in range(5):
        api.insert(rand_vec(rng, DIM))
    status, body = api.call("POST", "/admin/compact", headers={"Content-Length": "0"})
    assert status == 200
    assert body["status"] == "ok"
    assert body["entries_snapshotted"] == 5
    assert body["wal_sequence"] >= 5
    assert api.call("GET", "/stats")[1]["counters"]["compactions"] >= 1


def test_local_flag_is_accepted_on_data_routes(api, rng):
    v = rand_vec(rng, DIM)
    assert api.call("POST", "/insert?local=true", {"embedding": v, "response": "x", "query_text": "", "model_id": "m"})[0] == 200
    assert api.call("POST", "/query?local=true", {"embedding": v, "model_id": "m"})[1]["hit"] is True


def test_large_response_and_unicode_round_trip(api, rng):
    v = rand_vec(rng, DIM)
    text = ("ünïcødé ✓ \"quoted\" \\ \n\t" * 3000)[:100000]
    api.insert(v, response=text)
    assert api.query(v)[1]["response"] == text
