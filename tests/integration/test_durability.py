"""Durability against the real binary: restarts, and kill -9 at random moments."""
from __future__ import annotations

import http.client
import json
import random
import re
import threading
import time
from typing import Dict, List, Set

import pytest

from ferro_node import FerroNode, request
from helpers import Api, rand_vec, wait_until

DIM = 16


@pytest.fixture
def restartable(tmp_path):
    """A node (not started) that is stopped at teardown whatever happened."""
    node = FerroNode(tmp_path / "n")
    yield node
    node.stop()


def test_entries_deletes_and_access_counts_survive_a_clean_restart(restartable):
    rng = random.Random(11)
    node = restartable.start()
    api = Api(node.port)
    kept = [rand_vec(rng, DIM) for _ in range(20)]
    ids = [api.insert(v, response=f"r{i}", query_text=f"q{i}", ttl_seconds=3600)[1]["id"] for i, v in enumerate(kept)]
    gone = rand_vec(rng, DIM)
    gone_id = api.insert(gone)[1]["id"]
    assert api.call("DELETE", f"/entry/{gone_id}")[0] == 200
    for _ in range(4):
        api.query(kept[0])
    assert node.stop() == 0
    node.start()
    api = Api(node.port)
    for i, v in enumerate(kept):
        hit = api.query(v, threshold=0.999)[1]
        assert hit["id"] == ids[i] and hit["response"] == f"r{i}"
    assert api.query(rand_vec(rng, DIM), query_text="q3")[1]["id"] == ids[3]
    assert api.query(gone, threshold=0.999)[1] == {"hit": False}
    top = api.call("GET", "/admin/entry-stats")[1]["namespaces"]["m"]["top_entries"]
    assert top[0]["uuid"] == ids[0] and top[0]["access_count"] == 5
    assert api.call("GET", "/stats")[1]["entry_count"] == 20


def test_compaction_then_more_writes_then_restart_replays_the_tail(restartable):
    rng = random.Random(12)
    node = restartable.start()
    api = Api(node.port)
    before = [rand_vec(rng, DIM) for _ in range(30)]
    for v in before:
        api.insert(v)
    assert api.call("POST", "/admin/compact")[1]["entries_snapshotted"] == 30
    after = [rand_vec(rng, DIM) for _ in range(10)]
    after_ids = [api.insert(v)[1]["id"] for v in after]
    assert api.call("DELETE", f"/entry/{after_ids[0]}")[0] == 200
    node.kill()
    node.start()
    api = Api(node.port)
    assert api.call("GET", "/stats")[1]["entry_count"] == 39
    assert api.query(after[0], threshold=0.999)[1] == {"hit": False}
    assert api.query(after[5], threshold=0.999)[1]["id"] == after_ids[5]


def backlog_gauge(port: int) -> float:
    text = request(port, "GET", "/metrics")[2].decode()
    line = next(l for l in text.splitlines() if l.startswith("ferrocache_backlog_entries "))
    return float(line.split(" ")[1])


def test_after_kill_9_the_log_tail_is_served_at_once_and_linked_into_the_graph_meanwhile(restartable):
    rng = random.Random(13)
    restartable.extra_env["FERROCACHE_LOG_LEVEL"] = "info"  # the recovery lines are info
    node = restartable.start()
    api = Api(node.port)
    snapshotted = [rand_vec(rng, 64) for _ in range(200)]
    snap_ids = [api.insert(v, model_id="bl")[1]["id"] for v in snapshotted]
    assert api.call("POST", "/admin/compact")[0] == 200
    tail = [rand_vec(rng, 64) for _ in range(600)]
    tail_ids = [api.insert(v, model_id="bl", query_text=f"tail question {i}")[1]["id"] for i, v in enumerate(tail)]
    assert api.call("DELETE", f"/entry/{tail_ids[0]}")[0] == 200
    node.kill()
    node.start()
    # The tail (600 inserts, then a delete of one of them) waits in the backlog.
    waiting = re.findall(r"(\d+) entries wait in backlogs", node.log_tail(100000))
    assert waiting[-1:] == ["599"]  # the log holds both starts
    api = Api(node.port)

    def all_answer() -> None:
        assert api.query(tail[0], model_id="bl", threshold=0.9999)[1] == {"hit": False}
        for v, uid in list(zip(tail, tail_ids))[1:] + list(zip(snapshotted, snap_ids)):
            assert api.query(v, model_id="bl", threshold=0.9999)[1].get("id") == uid
        hit = api.query(rand_vec(rng, 64), model_id="bl", query_text="TAIL question 7")[1]
        assert hit.get("id") == tail_ids[7] and hit.get("exact_match") is True

    all_answer()  # whether linked yet or not: searched one by one until then
    wait_until(lambda: backlog_gauge(node.port) == 0, timeout=30, what="the backlog to be linked")
    assert "recovered entries linked into the graph" in node.log_tail(100000)
    all_answer()
    assert api.call("GET", "/stats")[1]["entry_count"] == 799


class Workload:
    """Concurrent inserts and deletes that remember what was acknowledged."""

    def __init__(self, port: int, seed: int, acked_inserts: Dict[str, List[float]], acked_deletes: Set[str],
                 attempted_deletes: Set[str]):
        self.port = port
        self.seed = seed
        self.acked_inserts = acked_inserts
        self.acked_deletes = acked_deletes
        self.attempted_deletes = attempted_deletes
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def worker(self, wid: int) -> None:
        rng = random.Random(self.seed * 100 + wid)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        n = 0
        while not self.stop.is_set() and n < 2000:
            n += 1
            try:
                with self.lock:
                    candidates = [u for u in self.acked_inserts if u not in self.attempted_deletes]
                if candidates and rng.random() < 0.3:
                    victim = rng.choice(candidates)
                    with self.lock:
                        self.attempted_deletes.add(victim)
                    conn.request("DELETE", f"/entry/{victim}")
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status == 200:
                        with self.lock:
                            self.acked_deletes.add(victim)
                else:
                    uid = f"s{self.seed}-w{wid}-{n}"
                    vec = rand_vec(rng, DIM)
                    body = json.dumps({"embedding": vec, "response": uid, "query_text": uid, "model_id": "crash",
                                       "uuid": uid})
                    conn.request("POST", "/insert", body=body, headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status == 200:
                        with self.lock:
                            self.acked_inserts[uid] = vec
            except (OSError, http.client.HTTPException):
                return  # the node was killed mid-request: outcome unknown, not acknowledged


def test_kill_9_at_random_moments_loses_and_resurrects_nothing(restartable):
    rounds = 8
    master = random.Random(20261126)
    node = restartable
    acked_inserts: Dict[str, List[float]] = {}
    acked_deletes: Set[str] = set()
    attempted_deletes: Set[str] = set()
    for r in range(rounds):
        seed = master.randrange(1 << 30)
        print(f"round {r} seed={seed}")
        node.start()
        load = Workload(node.port, seed, acked_inserts, acked_deletes, attempted_deletes)
        threads = [threading.Thread(target=load.worker, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        # Let the workload run a seeded while, then kill without warning.
        kill_after = 0.2 + random.Random(seed).random()
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline and any(t.is_alive() for t in threads):
            threads[0].join(timeout=deadline - time.monotonic())
        node.kill()
        load.stop.set()
        for t in threads:
            t.join()
        node.start()
        api = Api(node.port)
        for uid, vec in acked_inserts.items():
            if uid in attempted_deletes:
                continue  # an unacknowledged delete may or may not have landed
            hit = api.query(vec, model_id="crash", threshold=0.9999)[1]
            assert hit.get("id") == uid, f"round {r} seed={seed}: acknowledged insert {uid} lost"
        for uid in acked_deletes:
            assert api.call("DELETE", f"/entry/{uid}")[0] == 404, \
                f"round {r} seed={seed}: acknowledged delete {uid} came back"
        node.stop()
        print(f"round {r}: {len(acked_inserts)} inserts and {len(acked_deletes)} deletes acknowledged so far")
    assert len(acked_inserts) > 50, "the workload acknowledged too little to mean anything"


def counter(port: int, name: str) -> float:
    text = request(port, "GET", "/metrics")[2].decode()
    line = next(l for l in text.splitlines() if l.startswith(name + " "))
    return float(line.split(" ")[1])


def test_automatic_snapshots_wait_for_the_tail_fraction_and_a_kill_9_loses_no_insert(restartable):
    # At least 10 inserts and half the namespace since the last snapshot:
    # due at 10, 20, 40 and 80 entries (a snapshot that starts late only
    # delays the next). The fixed interval alone would take 10 in 100 inserts.
    rng = random.Random(14)
    restartable.extra_env.update(
        {"FERROCACHE_COMPACT_INTERVAL_INSERTS": "10", "FERROCACHE_COMPACT_TAIL_FRACTION": "0.5"})
    node = restartable.start()
    api = Api(node.port)
    vecs = [rand_vec(rng, DIM) for _ in range(100)]
    ids = [api.insert(v, response=f"r{i}")[1]["id"] for i, v in enumerate(vecs)]
    wait_until(lambda: counter(node.port, "ferrocache_compactions_total") >= 2, what="automatic snapshots")
    assert counter(node.port, "ferrocache_compactions_total") <= 4
    assert counter(node.port, "ferrocache_snapshot_bytes_total") > 0
    # Every record of the 100 inserts went to the log: 16-byte embeddings,
    # so well under a 4 KiB page each.
    assert 100 * 64 < counter(node.port, "ferrocache_wal_record_bytes_total") < 100 * 1024
    node.kill()
    node.start()
    api = Api(node.port)
    assert api.call("GET", "/stats")[1]["entry_count"] == 100
    for i, v in enumerate(vecs):
        hit = api.query(v, threshold=0.999)[1]
        assert hit["id"] == ids[i] and hit["response"] == f"r{i}"
