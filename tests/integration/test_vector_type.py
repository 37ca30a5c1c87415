"""hnsw.vector_type against the real binary: compact graphs survive restarts,
a change of type rebuilds the graph from the snapshot's entries, a bad value
stops start-up."""
from __future__ import annotations

import random

import pytest

from ferro_node import FerroNode
from helpers import Api, rand_vec

DIM = 24


@pytest.fixture
def restartable(tmp_path):
    node = FerroNode(tmp_path / "n")
    yield node
    node.stop()


def check_all_found(api: Api, vecs, ids):
    for v, i in zip(vecs, ids):
        hit = api.query(v, threshold=0.99)[1]
        assert hit.get("id") == i, hit
        # Similarity of the float32 query with the stored copy: near 1, not
        # necessarily 1 (docs/formats.md, "Graph file").
        assert 0.99 <= hit["similarity"] <= 1.0


@pytest.mark.parametrize("vector_type", ["float16", "int8"])
def test_a_compact_graph_survives_a_snapshot_a_kill_9_and_a_clean_restart(restartable, vector_type):
    rng = random.Random(31)
    restartable.extra_env["FERROCACHE_HNSW__VECTOR_TYPE"] = vector_type
    node = restartable.start()
    api = Api(node.port)
    vecs = [rand_vec(rng, DIM) for _ in range(40)]
    ids = [api.insert(v, response=f"r{k}")[1]["id"] for k, v in enumerate(vecs[:30])]
    assert api.call("POST", "/admin/compact")[1]["entries_snapshotted"] == 30
    ids += [api.insert(v, response=f"r{k + 30}")[1]["id"] for k, v in enumerate(vecs[30:])]
    node.kill()
    node.start()
    api = Api(node.port)
    assert api.call("GET", "/stats")[1]["entry_count"] == 40
    check_all_found(api, vecs, ids)
    assert api.call("POST", "/admin/compact")[1]["entries_snapshotted"] == 40
    assert node.stop() == 0
    node.start()
    check_all_found(Api(node.port), vecs, ids)
    assert "graph unusable" not in node.log_tail(100000)


def test_a_node_started_with_another_vector_type_rebuilds_its_graph_from_the_entries(restartable):
    rng = random.Random(32)
    restartable.extra_env["FERROCACHE_HNSW__VECTOR_TYPE"] = "float16"
    node = restartable.start()
    api = Api(node.port)
    vecs = [rand_vec(rng, DIM) for _ in range(25)]
    ids = [api.insert(v)[1]["id"] for v in vecs]
    assert api.call("POST", "/admin/compact")[1]["entries_snapshotted"] == 25
    for other in ["int8", "float32", "float16"]:
        assert node.stop() == 0
        node.extra_env["FERROCACHE_HNSW__VECTOR_TYPE"] = other
        node.start()
        api = Api(node.port)
        assert api.call("GET", "/stats")[1]["entry_count"] == 25
        check_all_found(api, vecs, ids)
        # A snapshot now, so that the next start finds a graph of this type.
        assert api.call("POST", "/admin/compact")[1]["entries_snapshotted"] == 25
    assert "hnsw.vector_type" in node.log_tail(100000)


def test_a_bad_vector_type_stops_start_up_naming_the_key(tmp_path):
    node = FerroNode(tmp_path / "bad", env={"FERROCACHE_HNSW__VECTOR_TYPE": "float64"})
    with pytest.raises(RuntimeError):
        node.start(timeout=10)
    assert "hnsw.vector_type" in node.log_tail()
    node.stop()
