"""Real multi-process FerroCache clusters on loopback, for tests/integration/cluster.

Why a harness of its own: a cluster test has to start N real nodes that know
each other's peer ports before any of them starts, wait until they have
*formed* (every node lists every node alive), which /health alone does not
say, and then hurt them the way production does (kill -9, SIGSTOP, an emptied
disk) while remembering which process is in which state. Checks must never
wait on a paused node, and teardown must continue and stop everything.

Nothing here sleeps to wait for a condition: conditions are polled against a
deadline (`poll_until`); the only sleeps are poll and retry intervals.
"""
from __future__ import annotations

import http.client
import json
import math
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from ferro_node import REPO, FerroNode, free_port, request

# The cluster settings the spec fixes for these tests (docs/api.md, Configuration).
REPLICATION_FACTOR = 2
HEARTBEAT_INTERVAL_MS = 100
REPLICATION_TIMEOUT_MS = 1000
PHI_THRESHOLD = 8

# What the binary says while cluster mode is not built (app/config.cpp, validate()).
UNSUPPORTED_MARKER = "cluster mode is not available in this build"

# Errors that mean "no answer": the node is dead, hung, restarting or closed the connection.
NO_ANSWER = (OSError, http.client.HTTPException)


class ClusterUnsupported(RuntimeError):
    """The binary refuses cluster.enabled: the cluster has not landed in this build."""


class Deadline:
    """One wall-clock budget for a whole test, so that its phases together stay bounded."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def cap(self, seconds: float) -> float:
        """`seconds`, or what is left of the budget if that is less; fails once the budget is spent."""
        left = self.remaining()
        if left <= 0.0:
            raise AssertionError(f"the test's budget of {self.seconds:.0f} s is spent")
        return min(seconds, left)


def poll_until(check: Callable[[], Tuple[bool, str]], timeout: float, what: str, interval: float = 0.05) -> float:
    """Calls `check()` -> (done, detail) until done or `timeout` s have passed; returns the seconds it took.

    A check that cannot reach a node counts as not done. The detail of the last
    attempt goes into the failure message, so a timeout says what was still missing.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        try:
            done, detail = check()
        except NO_ANSWER + (ValueError,) as exc:
            done, detail = False, f"{type(exc).__name__}: {exc}"
        if done:
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}: {detail}")
        time.sleep(interval)  # poll interval of a deadline loop


_ports_lock = threading.Lock()
_ports_handed_out: Set[int] = set()


def alloc_port() -> int:
    """A free loopback port never handed out before in this process (HTTP and peer ports must all differ)."""
    with _ports_lock:
        for _ in range(200):
            port = free_port()
            if port not in _ports_handed_out:
                _ports_handed_out.add(port)
                return port
    raise RuntimeError("no fresh free port found")


class JsonConn:
    """One keep-alive HTTP connection to one port: JSON in, (status, decoded body) out.

    Not thread-safe: one per thread. A kept-alive connection that the server
    closed (idle, or the node restarted on the same port) is reopened once;
    every other failure closes the connection and propagates, so the caller
    decides whether to retry or move to another node.
    """

    STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)

    def __init__(self, port: int, timeout: float = 5.0):
        self.port = port
        self.timeout = timeout
        self.conn: Optional[http.client.HTTPConnection] = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, method: str, path: str, body: Any = None, raw: Optional[bytes] = None) -> Tuple[int, Any]:
        reused = self.conn is not None
        try:
            return self._once(method, path, body, raw)
        except self.STALE:
            self.close()
            if not reused:
                raise
            return self._once(method, path, body, raw)
        except BaseException:
            self.close()
            raise

    def _once(self, method: str, path: str, body: Any, raw: Optional[bytes]) -> Tuple[int, Any]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        headers: Dict[str, str] = {}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            payload = resp.read()
        except BaseException:
            self.close()
            raise
        if resp.will_close:
            self.close()
        if (resp.getheader("Content-Type") or "").startswith("application/json"):
            return resp.status, json.loads(payload)
        return resp.status, payload.decode(errors="replace")


class ConnPool:
    """Keep-alive connections per (thread, port, timeout), for checks run from many threads."""

    def __init__(self, timeout: float = 5.0):
        self.timeout = timeout
        self.local = threading.local()

    def call(self, port: int, method: str, path: str, body: Any = None, raw: Optional[bytes] = None,
             timeout: Optional[float] = None) -> Tuple[int, Any]:
        conns: Dict[Tuple[int, float], JsonConn] = self.local.__dict__.setdefault("conns", {})
        key = (port, timeout or self.timeout)
        conn = conns.get(key)
        if conn is None:
            conn = conns[key] = JsonConn(port, key[1])
        return conn.call(method, path, body=body, raw=raw)


class ClusterNode(FerroNode):
    """A FerroNode with a node id and a peer port that stay the same across restarts."""

    def __init__(self, cluster: "Cluster", node_id: str, data_dir: Path, seeds: Optional[List[str]],
                 tls_dir: Optional[Path], cert_name: Optional[str], env: Dict[str, str]):
        super().__init__(data_dir, port=alloc_port())
        self.cluster = cluster
        self.node_id = node_id
        self.peer_port = alloc_port()
        self.seeds = seeds  # None: every node of the cluster, fixed at the first start
        self.tls_dir = tls_dir
        self.cert_name = cert_name or node_id
        self.own_env = env

    @property
    def peer_address(self) -> str:
        return f"127.0.0.1:{self.peer_port}"

    @property
    def serving(self) -> bool:
        """Running and not paused: a node one may ask something and get an answer from."""
        return self.running and not self.paused

    def cluster_env(self) -> Dict[str, str]:
        env = {
            "FERROCACHE_NODE_ID": self.node_id,
            "FERROCACHE_BIND_ADDRESS": "127.0.0.1",
            "FERROCACHE_CLUSTER__ENABLED": "true",
            "FERROCACHE_CLUSTER__PORT": str(self.peer_port),
            "FERROCACHE_CLUSTER__ADVERTISE_HOST": "127.0.0.1",
            "FERROCACHE_CLUSTER__SEED_NODES": ",".join(self.seeds or []),
            "FERROCACHE_CLUSTER__REPLICATION_FACTOR": str(self.cluster.replication_factor),
            "FERROCACHE_CLUSTER__HEARTBEAT_INTERVAL_MS": str(HEARTBEAT_INTERVAL_MS),
            "FERROCACHE_CLUSTER__REPLICATION_TIMEOUT_MS": str(REPLICATION_TIMEOUT_MS),
            "FERROCACHE_CLUSTER__PHI_THRESHOLD": str(PHI_THRESHOLD),
        }
        if self.tls_dir is not None:
            env.update({
                "FERROCACHE_CLUSTER__TLS__ENABLED": "true",
                "FERROCACHE_CLUSTER__TLS__CA_CERT_PATH": str(self.tls_dir / "ca.pem"),
                "FERROCACHE_CLUSTER__TLS__NODE_CERT_PATH": str(self.tls_dir / f"{self.cert_name}.pem"),
                "FERROCACHE_CLUSTER__TLS__NODE_KEY_PATH": str(self.tls_dir / f"{self.cert_name}.key"),
            })
        env.update(self.cluster.env)
        env.update(self.own_env)
        return env

    def call(self, method: str, path: str, body: Any = None, raw: Optional[bytes] = None,
             timeout: float = 5.0) -> Tuple[int, Any]:
        return self.cluster.pool.call(self.port, method, path, body=body, raw=raw, timeout=timeout)

    def metrics(self, timeout: float = 5.0) -> Dict[str, float]:
        """The node's /metrics samples, by name with labels as written (`name{a="b"}`)."""
        status, _, payload = request(self.port, "GET", "/metrics", timeout=timeout)
        if status != 200:
            raise ValueError(f"{self.node_id}: GET /metrics -> {status}")
        out: Dict[str, float] = {}
        for line in payload.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def status(self, timeout: float = 2.0) -> Dict[str, Any]:
        status, body = self.call("GET", "/cluster/status", timeout=timeout)
        if status != 200 or not isinstance(body, dict):
            raise ValueError(f"{self.node_id}: GET /cluster/status -> {status} {body!r}")
        return body


def formed_problem(status: Dict[str, Any], self_id: str, ids: Sequence[str], exact: bool = True) -> Optional[str]:
    """Why `status` (self_id's /cluster/status) does not show a formed cluster of `ids`, or None.

    Formed: clustered mode, the member list is `ids` (with exact=False it may
    hold more, e.g. a refused outsider listed as dead), every other one of
    `ids` is "alive", and the node holds a read lease (a majority heard it
    lately: until then its copies serve no reads, and a query gets 503).
    """
    if status.get("mode") != "clustered":
        return f"{self_id}: mode {status.get('mode')!r}"
    if status.get("self_node_id") != self_id:
        return f"{self_id}: self_node_id {status.get('self_node_id')!r}"
    nodes = status.get("nodes")
    if not isinstance(nodes, list):
        return f"{self_id}: nodes {nodes!r}"
    if exact and nodes != sorted(ids):
        return f"{self_id}: nodes {nodes} != {sorted(ids)}"
    if not exact and not set(ids) <= set(nodes):
        return f"{self_id}: nodes {nodes} lack some of {sorted(ids)}"
    health = status.get("peer_health") or {}
    for peer in ids:
        if peer != self_id and (health.get(peer) or {}).get("status") != "alive":
            return f"{self_id}: peer {peer} is {health.get(peer)!r}"
    if status.get("read_lease") is not True:
        return f"{self_id}: no read lease yet"
    return None


class Cluster:
    """A set of ClusterNodes under one folder, with the operations the tests hurt them with.

    Nodes are defined with `add` (ports are chosen then, so seeds can name
    nodes that have not started), launched with `start`, and stopped by
    `stop_all` (the fixture's teardown), paused ones included.
    """

    def __init__(self, root: Path, replication_factor: int = REPLICATION_FACTOR, tls_dir: Optional[Path] = None,
                 env: Optional[Dict[str, str]] = None):
        self.root = Path(root)
        self.replication_factor = replication_factor
        self.tls_dir = tls_dir
        self.env = dict(env or {})
        self.nodes: Dict[str, ClusterNode] = {}
        self.pool = ConnPool()
        self._on_teardown: List[Callable[[], None]] = []

    # --- membership of the harness (not of the cluster) ---

    def add(self, node_id: str, seeds: Optional[List[str]] = None, tls_dir: Optional[Path] = None,
            cert_name: Optional[str] = None, env: Optional[Dict[str, str]] = None) -> ClusterNode:
        """Defines a node, not started. `seeds` (peer addresses) default to every node defined
        when it first starts; `tls_dir`/`cert_name` default to the cluster's CA folder and the node id."""
        assert node_id not in self.nodes, node_id
        node = ClusterNode(self, node_id, self.root / node_id, seeds, tls_dir or self.tls_dir, cert_name,
                           dict(env or {}))
        self.nodes[node_id] = node
        return node

    def __getitem__(self, node_id: str) -> ClusterNode:
        return self.nodes[node_id]

    @property
    def ids(self) -> List[str]:
        return list(self.nodes)

    def serving_ids(self) -> List[str]:
        return [i for i, n in self.nodes.items() if n.serving]

    def on_teardown(self, fn: Callable[[], None]) -> None:
        """Runs `fn` at teardown before the nodes stop (e.g. stop a write load)."""
        self._on_teardown.append(fn)

    # --- process control ---

    def _launch(self, node: ClusterNode) -> None:
        if node.seeds is None:
            node.seeds = [n.peer_address for n in self.nodes.values()]
        node.extra_env = node.cluster_env()
        node.start(wait=False)

    def _wait_ready(self, node: ClusterNode, timeout: float) -> None:
        try:
            node.wait_ready(timeout)
        except (RuntimeError, TimeoutError) as exc:
            if UNSUPPORTED_MARKER in node.log_tail(100000):
                raise ClusterUnsupported(f"{node.node_id}: {UNSUPPORTED_MARKER}") from exc
            raise

    def start(self, ids: Optional[List[str]] = None, ready_timeout: float = 30.0) -> "Cluster":
        """Launches the given nodes (default: every node not running) all at once, then waits for
        each /health; does not wait for formation (`wait_formed`), since /health may be 200 before
        peers are connected."""
        ids = ids if ids is not None else [i for i, n in self.nodes.items() if not n.running]
        for i in ids:
            self._launch(self.nodes[i])
        for i in ids:
            self._wait_ready(self.nodes[i], ready_timeout)
        return self

    def kill(self, node_id: str) -> float:
        """kill -9; returns the monotonic time of the kill."""
        self.nodes[node_id].kill()
        return time.monotonic()

    def pause(self, node_id: str) -> float:
        """SIGSTOP; returns the monotonic time of the pause."""
        self.nodes[node_id].pause()
        return time.monotonic()

    def resume(self, node_id: str) -> float:
        """SIGCONT; returns the monotonic time of the resume."""
        self.nodes[node_id].resume()
        return time.monotonic()

    def restart(self, node_id: str, empty: bool = False, ready_timeout: float = 30.0) -> ClusterNode:
        """Starts a node again with the same id, ports and seeds; kill -9 first if it still runs.
        With empty=True its data dir is deleted first (a replaced disk)."""
        node = self.nodes[node_id]
        if node.running:
            node.kill()
        if empty:
            shutil.rmtree(node.data_dir, ignore_errors=True)
        self._launch(node)
        self._wait_ready(node, ready_timeout)
        return node

    def stop_all(self) -> None:
        for fn in self._on_teardown:
            try:
                fn()
            except Exception as exc:  # teardown goes on whatever a callback does
                print(f"teardown callback failed: {exc!r}")
        for node in self.nodes.values():
            node.stop(timeout=10.0)

    def log_tails(self, n: int = 3000) -> str:
        return "\n".join(f"----- {i} ({n_.log_path}) -----\n{n_.log_tail(n)}" for i, n_ in self.nodes.items())

    # --- what the nodes say ---

    def status(self, node_id: str) -> Dict[str, Any]:
        return self.nodes[node_id].status()

    def statuses(self, ids: Optional[List[str]] = None) -> Dict[str, Dict[str, Any]]:
        return {i: self.status(i) for i in (ids or self.serving_ids())}

    def peer_state(self, observer: str, peer: str) -> str:
        """How `observer` sees `peer`: "alive" | "suspected" | "dead" | "absent" (not in peer_health)."""
        return ((self.status(observer).get("peer_health") or {}).get(peer) or {}).get("status", "absent")

    def wait_formed(self, ids: Optional[List[str]] = None, timeout: float = 20.0, exact: bool = True) -> float:
        """Polls until every node of `ids` (default: every running node) lists all of `ids` and sees
        every other one "alive"; returns the seconds it took."""
        ids = sorted(ids or [i for i, n in self.nodes.items() if n.running])

        def check() -> Tuple[bool, str]:
            for i in ids:
                node = self.nodes[i]
                if not node.serving:
                    return False, f"{i} is {'paused' if node.paused else 'not running'}"
                problem = formed_problem(node.status(timeout=1.0), i, ids, exact)
                if problem:
                    return False, problem
            return True, ""

        return poll_until(check, timeout, f"the cluster {ids} to form", interval=0.05)

    def wait_fully_replicated(self, ids: Optional[List[str]] = None, timeout: float = 20.0) -> float:
        """Polls until under_replicated_namespaces is 0 on every node of `ids` (default: serving)."""
        ids = ids or self.serving_ids()

        def check() -> Tuple[bool, str]:
            for i in ids:
                value = self.nodes[i].status(timeout=1.0).get("under_replicated_namespaces")
                if value != 0:
                    return False, f"{i}: under_replicated_namespaces={value!r}"
            return True, ""

        return poll_until(check, timeout, f"no under-replicated namespace on {ids}", interval=0.1)

    def watch_peer(self, observer: str, peer: str, seconds: float) -> Dict[str, float]:
        """Observes for `seconds` (a duration the test wants to pass, e.g. a pause) how `observer`
        sees `peer`; returns the first time, in seconds from now, each state was seen."""
        start = time.monotonic()
        first: Dict[str, float] = {}
        while time.monotonic() - start < seconds:
            try:
                state = self.peer_state(observer, peer)
            except NO_ANSWER + (ValueError,):
                state = "status unavailable"
            first.setdefault(state, round(time.monotonic() - start, 3))
            time.sleep(0.05)  # sampling interval of a fixed-length observation
        return first


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def make_certs(out: Path, *node_ids: str) -> Path:
    """deploy/make-cluster-certs.sh OUT ids...: OUT/ca.pem, ca.key, <id>.pem, <id>.key. A run into
    another folder makes another (foreign) CA."""
    subprocess.run(["bash", str(REPO / "deploy" / "make-cluster-certs.sh"), str(out), *node_ids],
                   check=True, capture_output=True, timeout=60)
    return out
