#!/usr/bin/env python3
"""`make cluster-test`: docker-compose.yml's three nodes as real containers, hurt the way production is.

Runs the shipped compose files (no test-only override) under a project name of
its own (`-p ferroct<random>`), so the containers, the compose network and the
named volumes never clash with anything else, with host ports chosen free on
127.0.0.1. Steps, each bounded by its own deadline and all by one budget:

  a  insert through node1, the same id answers a query through node2 and node3
  b  `docker kill` of one node (the one leading most namespaces) under a write
     load of 10 threads: no acknowledged write lost (every acknowledged uuid
     answers a routed query on both survivors), reads keep answering; after
     `docker start` every acknowledged entry has >= 2 local copies again
  c  `docker network disconnect` of one node for PARTITION_S under writes and
     deletes, then reconnect: no acknowledged write lost, no deleted entry
     served again, the node rejoins and the cluster converges (every peer alive
     everywhere, under_replicated_namespaces 0, every namespace has one
     primary whose replica is in sync)
  d  rolling restart (`docker restart`, one node at a time, waiting for health
     and convergence in between) under a light load: no acknowledged write lost;
     the errors clients saw and how long they lasted are printed
  e  mutual TLS (docker-compose.tls.yml, certificates from
     deploy/make-cluster-certs.sh in a temporary folder): the cluster forms and
     replicates; a 4th container whose certificate comes from another CA never
     becomes alive for any member while the three keep acknowledging writes
  f  `down -v` of every project, the 4th container and the temporary folder,
     whatever happened (finally; SIGTERM and SIGINT too)

The write load, the delete load and the checker are the ones of the
multi-process tests (tests/integration/cluster/cluster_load.py): writers retry
each uuid (an upsert) until acknowledged or its own deadline, move to another
node when theirs does not answer, and every acknowledged uuid is checked.
Conditions are polled against deadlines; the only sleeps are poll intervals
and the planned length of a fault. Python standard library only.

    python3 tests/container/cluster_test.py [--steps abcde] [--budget SECONDS]

Environment: COMPOSE (default `docker-compose` when installed, else `docker
compose`), CLUSTER_TEST_BUDGET (seconds, default 1200), CLUSTER_TEST_LOG_DIR
(where the nodes' logs of a failed step are kept, default the temporary
folder; a lost write is printed with when and through which node it was
acknowledged, in UTC like the logs). Uses the image ferrocache:latest, which
docker-compose.yml names. Exit code 0 when every step passed and nothing was
left behind.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid as uuidlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO / "tests" / "support", REPO / "tests" / "integration" / "cluster"):
    sys.path.insert(0, str(_p))

from cluster_harness import (NO_ANSWER, Cluster, ConnPool, Deadline, JsonConn, alloc_port,  # noqa: E402
                             formed_problem, make_certs, poll_until)
from cluster_load import (RETRYABLE, Checker, DeleteLoad, Entry, WriteLoad, insert_known, make_entry,  # noqa: E402
                          namespaces)

IMAGE = "ferrocache:latest"  # the image docker-compose.yml names (`make image` builds it)
IDS = ["node1", "node2", "node3"]
SERVICE = {i: f"ferrocache-{i}" for i in IDS}
WRITERS = 10
PARTITION_S = 10.0
OUTSIDER_WATCH_S = 8.0
NSS = namespaces(4, 4)  # 16 namespaces: every node leads some of them
T0 = time.monotonic()
# Where the nodes' logs of a failed step are kept (the containers themselves are removed).
LOG_DIR = Path(os.environ.get("CLUSTER_TEST_LOG_DIR", tempfile.gettempdir())) / "ferro-cluster-test-logs"


def log(msg: str) -> None:
    print(f"[cluster-test {time.monotonic() - T0:7.1f}s] {msg}", flush=True)


def compose_command() -> List[str]:
    if os.environ.get("COMPOSE"):
        return os.environ["COMPOSE"].split()
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return ["docker", "compose"]


def run(args: Sequence[str], timeout: float = 120, check: bool = True, env: Optional[Dict[str, str]] = None,
        cwd: Path = REPO) -> str:
    out = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: exit {out.returncode}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return out.stdout.strip()


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    return run(["docker", *args], timeout=timeout, check=check)


# --------------------------------------------------------------------------------------------
# The cluster of containers. It is a cluster_harness.Cluster, so that the harness's checks
# (wait_formed, wait_fully_replicated, peer_state) and cluster_load's loads work on it as they
# do on processes; only what starts, stops and hurts the nodes is different.
# --------------------------------------------------------------------------------------------


class ContainerNode:
    """One compose service: its node id, its host port, its container."""

    def __init__(self, cluster: "ContainerCluster", node_id: str, service: str, port: int):
        self.cluster = cluster
        self.node_id = node_id
        self.service = service
        self.port = port
        self.cid = ""
        self.running = False
        self.partitioned = False

    @property
    def paused(self) -> bool:  # the harness's word for "running but unreachable"
        return self.partitioned

    @property
    def serving(self) -> bool:
        return self.running and not self.partitioned

    def call(self, method: str, path: str, body: Any = None, raw: Optional[bytes] = None,
             timeout: float = 5.0) -> Tuple[int, Any]:
        return self.cluster.pool.call(self.port, method, path, body=body, raw=raw, timeout=timeout)

    def status(self, timeout: float = 2.0) -> Dict[str, Any]:
        status, body = self.call("GET", "/cluster/status", timeout=timeout)
        if status != 200 or not isinstance(body, dict):
            raise ValueError(f"{self.node_id}: GET /cluster/status -> {status} {body!r}")
        return body

    def healthy(self) -> Tuple[bool, str]:
        status, body = self.call("GET", "/health", timeout=2.0)
        return status == 200, f"{self.node_id}: /health {status} {str(body)[:200]}"


class ContainerCluster(Cluster):
    """The compose project `project` of `files`, with host ports chosen free."""

    def __init__(self, project: str, files: Sequence[str], extra_env: Optional[Dict[str, str]] = None):
        super().__init__(root=Path(tempfile.gettempdir()), replication_factor=2)
        self.project = project
        self.files = list(files)
        self.pool = ConnPool(timeout=5.0)
        self.compose_env = dict(os.environ)
        self.compose_env.pop("FERROCACHE_AUTH_TOKEN", None)
        self.compose_env["FERROCACHE_PUBLISH_ADDRESS"] = "127.0.0.1"
        self.compose_env.update(extra_env or {})
        for n, node_id in enumerate(IDS, start=1):
            port = alloc_port()
            self.compose_env[f"FERROCACHE_NODE{n}_HOST_PORT"] = str(port)
            self.nodes[node_id] = ContainerNode(self, node_id, SERVICE[node_id], port)  # type: ignore[assignment]
        self.network = ""
        self.up_done = False

    def compose(self, *args: str, timeout: float = 180, check: bool = True) -> str:
        cmd = [*compose_command(), "-p", self.project]
        for f in self.files:
            cmd += ["-f", f]
        return run(cmd + list(args), timeout=timeout, check=check, env=self.compose_env)

    def up(self, timeout: float) -> float:
        """compose up -d; returns the seconds until every node answers /health with 200."""
        start = time.monotonic()
        self.up_done = True  # from here on, down -v must run
        self.compose("up", "-d", "--no-build", timeout=timeout)
        for node in self.nodes.values():
            node.cid = self.compose("ps", "-q", node.service)
            assert node.cid, f"no container for {node.service}"
            node.running = True
        nets = json.loads(docker("inspect", self.nodes["node1"].cid))[0]["NetworkSettings"]["Networks"]
        (self.network,) = nets.keys()
        for node in self.nodes.values():
            poll_until(node.healthy, max(1.0, timeout - (time.monotonic() - start)), f"{node.node_id} /health",
                       interval=0.2)
        return time.monotonic() - start

    def wait_healthy(self, node_id: str, timeout: float) -> float:
        return poll_until(self.nodes[node_id].healthy, timeout, f"{node_id} /health", interval=0.1)

    def container_state(self, node_id: str) -> Dict[str, Any]:
        return json.loads(docker("inspect", self.nodes[node_id].cid))[0]["State"]

    # --- faults ---

    def kill(self, node_id: str) -> float:  # type: ignore[override]
        node = self.nodes[node_id]
        docker("kill", node.cid)
        node.running = False
        return time.monotonic()

    def start_node(self, node_id: str) -> float:
        node = self.nodes[node_id]
        docker("start", node.cid)
        node.running = True
        return time.monotonic()

    def restart_node(self, node_id: str, stop_timeout: int = 60) -> float:
        """docker restart (SIGTERM, clean stop, start); returns the seconds docker took."""
        node = self.nodes[node_id]
        node.running = False
        start = time.monotonic()
        docker("restart", "-t", str(stop_timeout), node.cid, timeout=stop_timeout + 60)
        node.running = True
        return time.monotonic() - start

    def disconnect(self, node_id: str) -> float:
        node = self.nodes[node_id]
        docker("network", "disconnect", self.network, node.cid)
        node.partitioned = True
        return time.monotonic()

    def reconnect(self, node_id: str) -> float:
        """Back on the compose network under its service name (the name its peers dial)."""
        node = self.nodes[node_id]
        docker("network", "connect", "--alias", node.service, self.network, node.cid)
        node.partitioned = False
        return time.monotonic()

    def heal(self) -> None:
        """After a failed step: every node back on the network and running, for the next step."""
        for node in self.nodes.values():
            try:
                if node.partitioned:
                    self.reconnect(node.node_id)
                if not node.running:
                    self.start_node(node.node_id)
            except AssertionError as exc:
                log(f"could not heal {node.node_id}: {exc}")

    # --- what the nodes say ---

    def primaries(self) -> Dict[str, int]:
        """node id -> primary_namespaces, as each serving node reports it."""
        out = {}
        for i in self.serving_ids():
            v = self.status(i).get("primary_namespaces")
            out[i] = len(v) if isinstance(v, (list, dict)) else int(v or 0)
        return out

    def in_sync_problem(self) -> Optional[str]:
        """Why not every namespace any node knows has exactly one primary whose R-1 replicas are all
        in sync (e.g. a hand-over in progress), or None."""
        primaries: Dict[str, List[str]] = {}
        for i in IDS:
            for ns, v in (self.status(i).get("namespaces") or {}).items():
                primaries.setdefault(ns, [])
                if v.get("role") != "primary":
                    continue
                primaries[ns].append(i)
                replicas, in_sync = sorted(v.get("replicas") or []), sorted(v.get("in_sync") or [])
                if len(replicas) != self.replication_factor - 1 or not set(replicas) <= set(in_sync):
                    return f"{ns} on {i}: replicas {replicas}, in sync {in_sync}"
        for ns, who in primaries.items():
            if len(who) != 1:
                return f"{ns} has primaries {who}"
        return None

    def converged(self, timeout: float) -> float:
        """Every node lists all three alive, none has an under-replicated namespace, and every
        namespace's primary has all its replicas in sync."""
        start = time.monotonic()
        self.wait_formed(IDS, timeout=timeout)
        left = lambda: max(1.0, timeout - (time.monotonic() - start))  # noqa: E731
        self.wait_fully_replicated(IDS, timeout=left())
        poll_until(lambda: (self.in_sync_problem() is None, str(self.in_sync_problem())), left(),
                   "every namespace's replicas to be in sync", interval=0.1)
        return time.monotonic() - start

    def logs(self, tail: int = 60) -> str:
        return self.compose("logs", "--no-color", "--tail", str(tail), check=False, timeout=60)

    def save_logs(self, what: str) -> Path:
        """Every node's whole log, with Docker's UTC timestamps, into LOG_DIR (kept after the run)."""
        path = LOG_DIR / f"{self.project}-{what}.log"
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(self.compose("logs", "--no-color", "--timestamps", check=False, timeout=120))
        return path

    def stop_all(self) -> None:
        for fn in self._on_teardown:
            try:
                fn()
            except Exception as exc:  # teardown goes on whatever a callback does
                log(f"teardown callback failed: {exc!r}")
        self._on_teardown.clear()
        if self.up_done:
            for node in self.nodes.values():  # a node left disconnected would keep its network busy
                if node.partitioned:
                    try:
                        self.reconnect(node.node_id)
                    except AssertionError:
                        pass
            out = self.compose("down", "-v", "--remove-orphans", "-t", "10", check=False, timeout=180)
            log(f"compose -p {self.project} down -v {out[-200:]}")
            self.up_done = False


# --------------------------------------------------------------------------------------------
# Reads under faults
# --------------------------------------------------------------------------------------------


class ReadLoad:
    """`threads` readers query known entries (routed) through the nodes of `via`, like clients.

    A read is retried (after 429/5xx, on another node when its node does not answer)
    until it serves the entry or its own deadline passes. `outage` is, per read, the time
    from the first failed attempt to the answer. A reply that is a miss or another entry is
    a wrong answer, counted apart (and retried).
    """

    def __init__(self, cluster: ContainerCluster, entries: Sequence[Entry], via: Sequence[str], threads: int = 2,
                 pace: float = 0.05, read_deadline: float = 15.0, request_timeout: float = 3.0,
                 max_seconds: float = 120.0, seed: int = 5):
        self.cluster = cluster
        self.entries = list(entries)
        self.via = list(via)
        self.threads = threads
        self.pace = pace
        self.read_deadline = read_deadline
        self.request_timeout = request_timeout
        self.max_seconds = max_seconds
        self.seed = seed
        self.lock = threading.Lock()
        self.answered: List[Tuple[float, float]] = []  # (done_at, outage)
        self.failed: List[str] = []
        self.wrong: List[str] = []
        self.errors = 0
        self._stop = threading.Event()
        self._workers: List[threading.Thread] = []
        self.started_at = 0.0
        cluster.on_teardown(self.stop)

    def start(self) -> "ReadLoad":
        assert self.entries, "a read load needs entries to read"
        self.started_at = time.monotonic()
        self._workers = [threading.Thread(target=self._reader, args=(r,), daemon=True, name=f"reader-{r}")
                         for r in range(self.threads)]
        for t in self._workers:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self.stop()
        end = time.monotonic() + timeout
        for t in self._workers:
            t.join(max(0.0, end - time.monotonic()))
        assert not any(t.is_alive() for t in self._workers), f"readers still running after {timeout:.0f} s"

    def _reader(self, rid: int) -> None:
        rng = random.Random(self.seed * 100 + rid)
        conns = {i: JsonConn(self.cluster[i].port, self.request_timeout) for i in self.via}
        at = rid % len(self.via)
        try:
            while not self._stop.is_set() and time.monotonic() - self.started_at < self.max_seconds:
                entry = rng.choice(self.entries)
                began = time.monotonic()
                first_failure: Optional[float] = None
                while True:
                    node_id = self.via[at % len(self.via)]
                    attempt_at = time.monotonic()
                    try:
                        status, body = conns[node_id].call("POST", "/query", entry.query_body())
                    except NO_ANSWER as exc:
                        status, body = None, f"{type(exc).__name__}"
                        at += 1  # a client moves on to another node
                    now = time.monotonic()
                    if status == 200 and entry.answered_by(body):
                        with self.lock:
                            self.answered.append((now, 0.0 if first_failure is None else now - first_failure))
                        break
                    with self.lock:
                        if status == 200:
                            self.wrong.append(f"{entry.uuid} via {node_id}: {str(body)[:160]}")
                        else:
                            self.errors += 1
                    if status is not None and status != 200 and status not in RETRYABLE:
                        with self.lock:
                            self.failed.append(f"{entry.uuid} via {node_id}: {status} {str(body)[:160]}")
                        break
                    if first_failure is None:
                        first_failure = attempt_at
                    if now - began >= self.read_deadline or self._stop.is_set():
                        with self.lock:
                            self.failed.append(f"{entry.uuid} via {node_id}: {status} {str(body)[:160]}")
                        break
                    time.sleep(0.05)  # retry interval inside the read's deadline
                rest = began + self.pace - time.monotonic()
                if rest > 0:
                    time.sleep(rest)  # rate limit
        finally:
            for c in conns.values():
                c.close()

    def summary(self) -> Dict[str, Any]:
        with self.lock:
            done = sorted(self.answered)
            times = [t for t, _ in done]
            gaps = [b - a for a, b in zip(times, times[1:])]
            return {
                "reads_answered": len(done),
                "reads_failed": len(self.failed),
                "wrong_answers": len(self.wrong),
                "failed_attempts": self.errors,
                "longest_read_outage_s": round(max((o for _, o in done), default=0.0), 3),
                "longest_answer_gap_s": round(max(gaps, default=0.0), 3),
            }


# --------------------------------------------------------------------------------------------
# The steps
# --------------------------------------------------------------------------------------------


class Run:
    """State shared by the steps of one run: what the cluster must keep, and the numbers."""

    def __init__(self, budget: Deadline):
        self.budget = budget
        self.rng = random.Random(20261207)
        self.expected: Dict[str, Entry] = {}  # acknowledged and not deleted
        self.first_try: set = set()  # acknowledged at their first attempt: safe to delete (see step_c)
        self.gone: Dict[str, Entry] = {}  # acknowledged deletes
        self.numbers: Dict[str, Dict[str, Any]] = {}
        self.results: Dict[str, str] = {}

    def keep(self, entries: Sequence[Entry], first_try: bool = False) -> None:
        for e in entries:
            if e.uuid not in self.gone:
                self.expected[e.uuid] = e
                if first_try:
                    self.first_try.add(e.uuid)

    def keep_load(self, load: WriteLoad, exclude: Sequence[str] = ()) -> List[Entry]:
        recs = [x for x in load.records() if x.entry.uuid not in set(exclude)]
        self.keep([x.entry for x in recs if x.attempts > 1])
        self.keep([x.entry for x in recs if x.attempts == 1], first_try=True)
        return [x.entry for x in recs]

    def cap(self, seconds: float) -> float:
        return self.budget.cap(seconds)


def wall(mono: float) -> str:
    """A time.monotonic() value as UTC wall-clock time, to find it in the nodes' logs."""
    t = time.time() - (time.monotonic() - mono)
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"


def lost_after(c: ContainerCluster, checker: Checker, entries: Sequence[Entry], via: Sequence[str],
               timeout: float, loads: Sequence[WriteLoad] = ()) -> Tuple[List[str], Dict[Tuple[str, str], str], float]:
    """Routed queries through `via` until every entry answers or `timeout`; the uuids never answered
    are lost. For each lost one, what its writer saw (when and through which node it was
    acknowledged, in UTC like the logs) and which nodes hold it locally are printed."""
    routed = checker.wait_routed(entries, via=via, timeout=timeout)
    lost = sorted({u for u, _ in routed.missing})
    if lost:
        recs = {}
        for load in loads:
            recs.update({x.entry.uuid: x for x in load.records()})
        by_id = {e.uuid: e for e in entries}
        holders = checker.holders([by_id[u] for u in lost[:10]], [i for i in IDS if c[i].serving])
        for u in lost[:10]:
            e, x = by_id[u], recs.get(u)
            how = (f"acked by {x.node_id} at {wall(x.done_at)} UTC after {x.attempts} attempt(s) (first sent "
                   f"{wall(x.first_attempt)}; last error {x.last_error or '-'})") if x else "acked before this step"
            log(f"LOST {u} in namespace {e.model_id}/{e.cache_scope}: {how}; local copies on {holders.get(u)}")
    return lost, routed.missing, routed.seconds


def step_a(c: ContainerCluster, r: Run) -> None:
    e = make_entry(r.rng, f"a-{uuidlib.uuid4().hex[:8]}", NSS[0])
    status, body = c["node1"].call("POST", "/insert", e.insert_body())
    assert status == 200 and isinstance(body, dict) and body.get("id") == e.uuid, f"insert via node1: {status} {body}"
    t = time.monotonic()
    answers = {}
    for i in ("node2", "node3"):
        status, body = c[i].call("POST", "/query", e.query_body())
        answers[i] = body
        assert status == 200 and e.answered_by(body), f"query via {i}: {status} {body}"
    holders = Checker(c).wait_copies([e], timeout=r.cap(10))[e.uuid]
    r.keep([e], first_try=True)
    r.numbers["a"] = {"id": e.uuid, "answered_by": sorted(answers), "copies_on": holders,
                      "queries_ms": round((time.monotonic() - t) * 1000, 1)}
    log(f"a: {e.uuid} inserted via node1 is answered via node2 and node3 (similarity "
        f"{answers['node2'].get('similarity')}); local copies on {holders}")


def step_b(c: ContainerCluster, r: Run) -> None:
    c.converged(r.cap(60))
    known = insert_known(c, 48, r.rng, NSS, via=IDS, prefix="b-known")
    r.keep(known, first_try=True)
    prim = c.primaries()
    victim = max(IDS, key=lambda i: (prim.get(i, 0), i == "node1"))
    survivors = [i for i in IDS if i != victim]
    log(f"b: primaries per node {prim}; killing {victim} under {WRITERS} writers")
    load = WriteLoad(c, threads=WRITERS, per_thread=300, pace=0.05, max_seconds=40, write_deadline=15,
                     nss=NSS, via=IDS, seed=11).start()
    reads = ReadLoad(c, known, via=IDS, threads=2, max_seconds=120).start()
    poll_until(lambda: (load.acked_count() >= load.planned // 3, f"{load.acked_count()} acked"),
               r.cap(40), "a third of the planned writes to be acknowledged")
    acked_before = load.acked_count()
    killed_at = c.kill(victim)
    for s in survivors:
        poll_until(lambda: (c.peer_state(s, victim) != "alive", c.peer_state(s, victim)),
                   r.cap(15), f"{s} to notice that {victim} died")
    noticed_s = time.monotonic() - killed_at
    # "dead" (phi over twice the threshold), or already dropped from the ring ("absent").
    dead_s = poll_until(lambda: (all(c.peer_state(s, victim) in ("dead", "absent") for s in survivors),
                                 str({s: c.peer_state(s, victim) for s in survivors})),
                        r.cap(30), f"both survivors to declare {victim} dead")
    dead_s += noticed_s
    load.join(timeout=r.cap(60))
    reads.join(timeout=r.cap(20))
    acked = load.acked_entries()
    checker = Checker(c)
    lost, missing, routed_s = lost_after(c, checker, acked, survivors, r.cap(30), [load])
    s = load.summary()
    rs = reads.summary()
    restart_state = c.container_state(victim)
    assert not restart_state["Running"], f"docker restarted the killed {victim} by itself: {restart_state}"
    log(f"b: planned={load.planned} acked={s['acked']} (before kill {acked_before}, after "
        f"{load.acked_since(killed_at)}) lost={len(lost)} failed_writes={s['failed_writes']} "
        f"rejected={s['rejected']} retried={s['retried_writes']} longest_write_outage={s['longest_write_outage_s']}s "
        f"longest_ack_gap={s['longest_ack_gap_s']}s; {victim} suspected after {noticed_s:.2f}s, dead after "
        f"{dead_s:.2f}s; reads {rs}")
    if s["last_failure"]:
        log(f"b: last failed write: {s['last_failure']}")

    started = c.start_node(victim)
    healthy_s = c.wait_healthy(victim, r.cap(60))
    formed_s = c.wait_formed(IDS, timeout=r.cap(60)) + healthy_s
    converge_s = c.converged(r.cap(60)) + formed_s
    t = time.monotonic()
    holders = checker.wait_copies([e for e in acked + known if e.uuid not in lost], timeout=r.cap(90), node_ids=IDS)
    copies_s = time.monotonic() - t
    r.keep_load(load)
    r.numbers["b"] = {"victim": victim, "planned": load.planned, **s, "lost": len(lost),
                      "suspected_after_s": round(noticed_s, 3), "dead_after_s": round(dead_s, 3), **rs,
                      "restart_healthy_s": round(healthy_s, 2), "rejoined_s": round(formed_s, 2),
                      "converged_s": round(converge_s, 2), "copies_check_s": round(copies_s, 2),
                      "entries_with_more_than_2_copies": sum(1 for h in holders.values() if len(h) > 2)}
    log(f"b: {victim} restarted (docker start): healthy in {healthy_s:.2f}s, all alive everywhere in {formed_s:.2f}s, "
        f"converged (no under-replicated namespace, every replica in sync) in {converge_s:.2f}s; then every one of "
        f"{len(acked) + len(known)} acked entries had >= 2 local copies (check took {copies_s:.1f}s)")
    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {list(missing.items())[:5]}"
    assert not load.rejected, f"writes refused with a non-retryable status: {load.rejected[:5]}"
    assert load.acked_since(killed_at) > 0, "no write was acknowledged after the kill"
    assert s["acked"] >= load.planned // 2, "the load acknowledged too little to mean anything"
    assert rs["reads_failed"] == 0, f"reads not answered within their deadline: {reads.failed[:5]}"
    assert rs["wrong_answers"] == 0, f"wrong answers to reads of acknowledged entries: {reads.wrong[:5]}"
    assert [t for t, _ in reads.answered if t > killed_at], "no read was answered after the kill"


def step_c(c: ContainerCluster, r: Run) -> None:
    c.converged(r.cap(60))
    prim = c.primaries()
    victim = max(IDS, key=lambda i: (prim.get(i, 0), i == "node2"))
    others = [i for i in IDS if i != victim]
    # Deletes: entries acknowledged at their first attempt (an attempt that got no answer may
    # still land later, which is a late write, not a resurrection), most from before the cut.
    before = [e for e in r.expected.values() if e.uuid in r.first_try]
    r.rng.shuffle(before)
    pre_iter = iter(before)
    load = WriteLoad(c, threads=WRITERS, per_thread=200, pace=0.1, max_seconds=30, write_deadline=15,
                     nss=NSS, via=IDS, seed=12).start()
    chosen = set()
    cut_at = [float("inf")]

    def choose(rng: random.Random) -> Optional[Entry]:
        if time.monotonic() < cut_at[0]:
            return None
        if rng.random() < 2 / 3:
            for e in pre_iter:
                chosen.add(e.uuid)
                return e
        fresh = [x.entry for x in load.records() if x.attempts == 1 and x.entry.uuid not in chosen]
        if not fresh:
            return None
        e = rng.choice(fresh)
        chosen.add(e.uuid)
        return e

    deleter = DeleteLoad(c, choose, via=IDS, max_count=80, pace=0.1, delete_deadline=10, seed=13).start()
    poll_until(lambda: (load.acked_count() >= 200, f"{load.acked_count()} acked"), r.cap(30),
               "200 acknowledged writes before the cut")
    log(f"b->c: primaries per node {prim}; disconnecting {victim} from {c.network} for {PARTITION_S:.0f}s")
    cut_at[0] = c.disconnect(victim)
    seen = c.watch_peer(others[0], victim, PARTITION_S)  # the cut lasts PARTITION_S; meanwhile, how a peer sees it
    deleter.stop()
    deleter.join(timeout=r.cap(30))
    healed_at = c.reconnect(victim)
    # Measured from the reconnect, while the writers still run.
    rejoin_s = c.wait_formed(IDS, timeout=r.cap(60))
    settle_s = c.converged(r.cap(60)) + rejoin_s
    load.join(timeout=r.cap(60))
    excluded = set(deleter.deleted) | set(deleter.unknown) | set(deleter.not_found)
    for u in deleter.deleted:
        r.gone[u] = deleter.deleted[u]
        r.expected.pop(u, None)
    for u in set(deleter.unknown) | set(deleter.not_found):
        r.expected.pop(u, None)
    r.keep_load(load, exclude=excluded)
    checker = Checker(c)
    live = list(r.expected.values())
    lost, missing, routed_s = lost_after(c, checker, live, IDS, r.cap(60), [load])
    t = time.monotonic()
    holders = checker.wait_copies([e for e in live if e.uuid not in lost], timeout=r.cap(90), node_ids=IDS)
    copies_s = time.monotonic() - t
    resurrected = checker.answered_anywhere(list(deleter.deleted.values()), IDS)
    s = load.summary()
    r.numbers["c"] = {"victim": victim, **s, "lost": len(lost), "checked_entries": len(live),
                      "deleted": len(deleter.deleted), "delete_unknown": len(deleter.unknown),
                      "delete_not_found": len(deleter.not_found), "resurrected": len(resurrected),
                      "peer_view_during_cut": seen, "rejoined_s": round(rejoin_s, 2),
                      "converged_s": round(settle_s, 2), "copies_check_s": round(copies_s, 2),
                      "entries_with_more_than_2_copies": sum(1 for h in holders.values() if len(h) > 2)}
    log(f"c: acked={s['acked']} lost={len(lost)} (of {len(live)} live entries checked via every node) "
        f"deleted={len(deleter.deleted)} unknown={len(deleter.unknown)} not_found={len(deleter.not_found)} "
        f"resurrected={len(resurrected)} failed_writes={s['failed_writes']} retried={s['retried_writes']} "
        f"longest_write_outage={s['longest_write_outage_s']}s longest_ack_gap={s['longest_ack_gap_s']}s; "
        f"{others[0]} saw {victim}: {seen}; after reconnect: all alive everywhere in {rejoin_s:.2f}s, converged "
        f"(no under-replicated namespace, every replica in sync) in {settle_s:.2f}s; routed check {routed_s:.1f}s, then every live entry "
        f"had >= 2 local copies (check took {copies_s:.1f}s)")
    if s["last_failure"]:
        log(f"c: last failed write: {s['last_failure']}")
    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {list(missing.items())[:5]}"
    assert not resurrected, f"deleted entries served again: {resurrected[:5]}"
    assert not deleter.not_found, f"deletes of acknowledged entries found nothing: {list(deleter.not_found)[:5]}"
    assert not load.rejected and not deleter.rejected, (load.rejected[:5], deleter.rejected[:5])
    assert deleter.deleted, "nothing was deleted during the cut"
    assert set(seen) - {"alive", "status unavailable"}, f"{others[0]} never saw the cut-off {victim} as failed: {seen}"


def step_d(c: ContainerCluster, r: Run) -> None:
    c.converged(r.cap(60))
    if not r.expected:  # run alone (--steps d): something to read
        r.keep(insert_known(c, 48, r.rng, NSS, via=IDS, prefix="d-known"), first_try=True)
    load = WriteLoad(c, threads=3, per_thread=5000, pace=0.1, max_seconds=300, write_deadline=20,
                     nss=NSS, via=IDS, seed=14).start()
    reads = ReadLoad(c, list(r.expected.values())[:500], via=IDS, threads=1, pace=0.1, max_seconds=300,
                     read_deadline=20).start()
    poll_until(lambda: (load.acked_count() >= 30, f"{load.acked_count()} acked"), r.cap(30), "the light load to run")
    per_node = {}
    start = time.monotonic()
    for i in IDS:
        t = time.monotonic()
        docker_s = c.restart_node(i)
        healthy_s = c.wait_healthy(i, r.cap(60))
        conv_s = c.converged(r.cap(90))
        per_node[i] = {"docker_restart_s": round(docker_s, 2), "healthy_after_s": round(docker_s + healthy_s, 2),
                       "converged_after_s": round(time.monotonic() - t, 2)}
        log(f"d: {i} restarted: docker restart {docker_s:.2f}s, healthy +{healthy_s:.2f}s, converged +{conv_s:.2f}s")
    rolling_s = time.monotonic() - start
    load.stop()
    load.join(timeout=r.cap(40))
    reads.join(timeout=r.cap(40))
    acked = r.keep_load(load)
    checker = Checker(c)
    live = list(r.expected.values())
    lost, missing, _ = lost_after(c, checker, live, IDS, r.cap(60), [load])
    log(f"d: routed check of {len(live)} live entries via every node: lost={len(lost)} "
        f"{list(missing.items())[:5]}")
    checker.wait_copies([e for e in acked if e.uuid not in lost], timeout=r.cap(60), node_ids=IDS)
    resurrected = checker.answered_anywhere(list(r.gone.values()), IDS)
    s = load.summary()
    rs = reads.summary()
    failed_attempts = s["attempts"] - s["acked"] - s["failed_writes"]
    r.numbers["d"] = {**s, "lost": len(lost), "checked_entries": len(live), "failed_write_attempts": failed_attempts,
                      "rolling_restart_s": round(rolling_s, 2), "per_node": per_node, **rs,
                      "resurrected": len(resurrected)}
    log(f"d: rolling restart of 3 nodes took {rolling_s:.2f}s; writes acked={s['acked']} lost={len(lost)} (of "
        f"{len(live)} live entries checked) failed_writes={s['failed_writes']} retried_writes={s['retried_writes']} "
        f"failed_attempts={failed_attempts} longest_write_outage={s['longest_write_outage_s']}s "
        f"longest_ack_gap={s['longest_ack_gap_s']}s; reads {rs}; deleted entries served again: {len(resurrected)}")
    if s["last_failure"]:
        log(f"d: last failed write: {s['last_failure']}")
    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {list(missing.items())[:5]}"
    assert not load.rejected, load.rejected[:5]
    assert not resurrected, f"deleted entries served again: {resurrected[:5]}"
    assert s["failed_writes"] == 0, f"writes not acknowledged within 20 s: {s['last_failure']}"
    assert rs["reads_failed"] == 0 and rs["wrong_answers"] == 0, (reads.failed[:5], reads.wrong[:5])


def prepare_certs(folder: Path, *names: str) -> Path:
    """make-cluster-certs.sh into `folder`, readable by the image's uid 10001 (folder and keys)."""
    make_certs(folder, *names)
    for p in [folder, *folder.iterdir()]:
        if os.geteuid() == 0:
            os.chown(p, 0, 10001)
            os.chmod(p, 0o750 if p.is_dir() else 0o640)
        else:  # a private temporary folder of this user: world-readable inside it is fine
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
    folder.parent.chmod(0o755)
    return folder


def step_e(r: Run, tmp: Path, projects: List[ContainerCluster], outsiders: List[str]) -> None:
    certs = prepare_certs(tmp / "certs", *IDS)
    foreign = prepare_certs(tmp / "foreign", "node4")  # another CA
    c = ContainerCluster(f"ferroct{uuidlib.uuid4().hex[:8]}", ["docker-compose.yml", "docker-compose.tls.yml"],
                         {"FERROCACHE_CERTS_DIR": str(certs)})
    projects.append(c)
    up_s = c.up(r.cap(120))
    formed_s = c.wait_formed(IDS, timeout=r.cap(60))
    log(f"e: TLS project {c.project}: healthy in {up_s:.2f}s, formed {formed_s:.2f}s later")
    tls_lines = [ln for ln in c.logs(200).splitlines() if "mutual tls" in ln.lower()]
    e = make_entry(r.rng, "e-tls-0", NSS[1])
    status, body = c["node1"].call("POST", "/insert", e.insert_body())
    assert status == 200, f"insert via node1: {status} {body}"
    for i in ("node2", "node3"):
        status, body = c[i].call("POST", "/query", e.query_body())
        assert status == 200 and e.answered_by(body), f"query via {i}: {status} {body}"
    known = [e] + insert_known(c, 30, r.rng, NSS, via=IDS, prefix="e-known")
    checker = Checker(c)
    checker.wait_copies(known, timeout=r.cap(30), node_ids=IDS)

    name = f"{c.project}-node4"
    port = alloc_port()
    outsiders.append(name)
    docker("run", "-d", "--name", name, "--network", c.network, "--network-alias", "ferrocache-node4",
           "--hostname", "ferrocache-node4", "-p", f"127.0.0.1:{port}:3000",
           "-v", f"{foreign}:/etc/ferrocache/certs:ro",
           "-e", "FERROCACHE_NODE_ID=node4", "-e", "FERROCACHE_CLUSTER__ENABLED=true",
           "-e", "FERROCACHE_CLUSTER__PORT=4000", "-e", "FERROCACHE_CLUSTER__ADVERTISE_HOST=ferrocache-node4",
           "-e", "FERROCACHE_CLUSTER__REPLICATION_FACTOR=2",
           "-e", "FERROCACHE_CLUSTER__HEARTBEAT_INTERVAL_MS=200",
           "-e", "FERROCACHE_CLUSTER__SEED_NODES=ferrocache-node1:4000,ferrocache-node2:4000,ferrocache-node3:4000",
           "-e", "FERROCACHE_CLUSTER__TLS__ENABLED=true",
           "-e", "FERROCACHE_CLUSTER__TLS__CA_CERT_PATH=/etc/ferrocache/certs/ca.pem",
           "-e", "FERROCACHE_CLUSTER__TLS__NODE_CERT_PATH=/etc/ferrocache/certs/node4.pem",
           "-e", "FERROCACHE_CLUSTER__TLS__NODE_KEY_PATH=/etc/ferrocache/certs/node4.key", IMAGE)
    outsider_conn = JsonConn(port, 2.0)
    poll_until(lambda: (outsider_conn.call("GET", "/health")[0] == 200, "node4 /health"), r.cap(60),
               "node4 (foreign CA) to start", interval=0.2)

    end = time.monotonic() + OUTSIDER_WATCH_S
    written: List[Entry] = []
    alive_sightings: List[str] = []
    listed = set()
    problems: List[str] = []
    n = 0
    while time.monotonic() < end:  # a fixed observation window; each pass is a few requests
        via = IDS[n % 3]
        w = make_entry(r.rng, f"e-while-node4-{n}", NSS[n % len(NSS)])
        n += 1
        status, body = c[via].call("POST", "/insert", w.insert_body())
        assert status == 200, f"insert via {via} while node4 knocks: {status} {body}"
        written.append(w)
        for i in IDS:
            st = c.status(i)
            if ((st.get("peer_health") or {}).get("node4") or {}).get("status") == "alive":
                alive_sightings.append(i)
            if "node4" in (st.get("nodes") or []):
                listed.add(i)
            problem = formed_problem(st, i, IDS, exact=False)
            if problem:
                problems.append(problem)
        time.sleep(0.05)  # interval between passes
    checker.wait_copies(written, timeout=r.cap(30), node_ids=IDS)
    on_outsider = []
    for w in written:
        status, body = outsider_conn.call("POST", "/query?local=true", w.query_body())
        if status == 200 and w.answered_by(body):
            on_outsider.append(w.uuid)
    _, node4_view = outsider_conn.call("GET", "/cluster/status")
    outsider_conn.close()
    refusal = [ln for ln in (docker("logs", "--tail", "400", name, check=False) + "\n" + c.logs(400)).splitlines()
               if "handshake failed" in ln.lower() or "refused" in ln.lower()]
    r.numbers["e"] = {"healthy_s": round(up_s, 2), "formed_s": round(formed_s, 2), "writes_while_node4_knocked":
                      len(written), "node4_seen_alive_by": sorted(set(alive_sightings)), "node4_listed_by":
                      sorted(listed), "member_problems": len(problems), "copies_on_node4": len(on_outsider),
                      "refusals_logged": len(refusal)}
    log(f"e: node4 (foreign CA) knocked for {OUTSIDER_WATCH_S:.0f}s: {len(written)} writes acked by the members, "
        f"node4 seen alive by {sorted(set(alive_sightings))}, listed by {sorted(listed)}, member problems "
        f"{problems[:3]}, copies on node4 {len(on_outsider)}; node4's own view: "
        f"{ {k: node4_view.get(k) for k in ('nodes', 'peer_health')} if isinstance(node4_view, dict) else node4_view}")
    log(f"e: {len(tls_lines)} nodes log a cluster port with mutual TLS, e.g. {tls_lines[:1]}; {len(refusal)} refusals "
        f"logged, e.g. {refusal[:2]}")
    assert not alive_sightings, f"node4 was seen alive by {alive_sightings}"
    assert not problems, problems[:5]
    assert not on_outsider, f"node4 got copies: {on_outsider[:5]}"


# --------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="abcde", help="which of the steps a-e to run (f, the clean-up, always runs)")
    ap.add_argument("--budget", type=float, default=float(os.environ.get("CLUSTER_TEST_BUDGET", 1200)),
                    help="seconds for the whole run (default 1200)")
    args = ap.parse_args()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    docker("image", "inspect", IMAGE, timeout=30)  # fails at once when `make image` did not run
    r = Run(Deadline(args.budget))
    projects: List[ContainerCluster] = []
    outsiders: List[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="ferro-cluster-test-"))
    log(f"compose: {' '.join(compose_command())}; image {IMAGE} "
        f"({docker('image', 'inspect', '-f', '{{.Id}}', IMAGE)[:19]}); steps {args.steps}; budget {args.budget:.0f}s")
    try:
        plain = [s for s in "abcd" if s in args.steps]
        if plain:
            c = ContainerCluster(f"ferroct{uuidlib.uuid4().hex[:8]}", ["docker-compose.yml"])
            projects.append(c)
            try:
                up_s = c.up(r.cap(120))
                formed_s = c.wait_formed(IDS, timeout=r.cap(60))
                r.numbers["up"] = {"project": c.project, "healthy_s": round(up_s, 2), "formed_s": round(formed_s, 2)}
                log(f"project {c.project} (network {c.network}): healthy {up_s:.2f}s after `up -d`, all three alive "
                    f"everywhere {formed_s:.2f}s later")
            except Exception as exc:  # noqa: BLE001 - reported, then the clean-up runs
                r.results["up"] = f"FAILED: {exc}"
                log(f"up: FAILED: {exc}; every node's log: {c.save_logs('up')}")
                plain = []
            for step, fn in (("a", step_a), ("b", step_b), ("c", step_c), ("d", step_d)):
                if step not in plain:
                    continue
                t = time.monotonic()
                try:
                    fn(c, r)
                    r.results[step] = f"passed in {time.monotonic() - t:.1f}s"
                except Exception as exc:  # noqa: BLE001 - a failed step is reported, the next one runs
                    r.results[step] = f"FAILED after {time.monotonic() - t:.1f}s: {str(exc)[:2000]}"
                    log(f"{step}: FAILED: {exc}")
                    traceback.print_exc()
                    log(f"{step}: every node's log: {c.save_logs(step)}")
                finally:
                    for fn_ in c._on_teardown:  # loads of a failed step must not run into the next
                        try:
                            fn_()
                        except Exception:  # noqa: BLE001 - stopping a load never stops the run
                            pass
                    c._on_teardown.clear()
                    c.heal()
                log(f"{step}: {r.results[step]}")
            c.stop_all()
        if "e" in args.steps:
            t = time.monotonic()
            try:
                step_e(r, tmp, projects, outsiders)
                r.results["e"] = f"passed in {time.monotonic() - t:.1f}s"
            except Exception as exc:  # noqa: BLE001 - reported like an assertion
                r.results["e"] = f"FAILED after {time.monotonic() - t:.1f}s: {str(exc)[:2000]}"
                log(f"e: FAILED: {exc}")
                traceback.print_exc()
                if projects and projects[-1].up_done:
                    log(f"e: every node's log: {projects[-1].save_logs('e')}")
            log(f"e: {r.results['e']}")
    except KeyboardInterrupt as exc:
        r.results["interrupted"] = str(exc)
    finally:
        t = time.monotonic()
        for name in outsiders:
            docker("rm", "-f", "-v", name, check=False, timeout=60)
        for c in projects:
            c.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
        left = []
        for c in projects:  # containers, volumes and the network of each project carry its label
            label = f"label=com.docker.compose.project={c.project}"
            for kind in (["ps", "-a"], ["volume", "ls"], ["network", "ls"]):
                left += docker(*kind, "-q", "--filter", label, check=False).split()
        for n in outsiders:
            left += docker("ps", "-a", "-q", "--filter", f"name=^{n}$", check=False).split()
        r.results["f"] = (f"cleaned up in {time.monotonic() - t:.1f}s" +
                          (f"; left behind: {' '.join(left)}" if left else "; nothing left"))
        log(f"f: {r.results['f']}")

    print("\n==== cluster-test numbers ====")
    print(json.dumps(r.numbers, indent=1, sort_keys=False))
    print("==== cluster-test results ====")
    for step, res in r.results.items():
        print(f"{step}: {res}")
    print(f"total {time.monotonic() - T0:.1f}s")
    failed = [s for s, res in r.results.items() if res.startswith("FAILED") or s == "interrupted"]
    return 1 if failed or "left behind" in r.results.get("f", "") else 0


if __name__ == "__main__":
    sys.exit(main())
