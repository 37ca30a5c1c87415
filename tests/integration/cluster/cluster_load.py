"""Write load and the checker for the cluster tests.

`WriteLoad` is a client population: W threads insert entries with unique,
client-chosen uuids into several namespaces through the nodes of a cluster,
retry each uuid (inserts with a uuid are upserts) until it is acknowledged or
the write's own deadline passes, and move to another node when theirs stops
answering. What was acknowledged, with its vector and namespace, is what the
cluster promised to keep; the load is bounded in count and in time.

`DeleteLoad` deletes acknowledged entries through chosen nodes while the
writers run. `Checker` asks nodes about entries: how many nodes hold a copy
(`?local=true` queries), whether routed queries through a node answer, and
whether any node still answers a deleted entry.
"""
from __future__ import annotations

import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from cluster_harness import NO_ANSWER, Cluster, JsonConn, poll_until

DIM = 32
COPY_THRESHOLD = 0.999  # an entry's own vector matches itself at 1.0; random 32-dim vectors are far below
RETRYABLE = {429, 502, 503, 504}  # shed, not ready, or a peer that must take part did not answer


def unit(v: List[float]) -> List[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def rand_vec(rng: random.Random, dim: int = DIM) -> List[float]:
    return unit([rng.gauss(0, 1) for _ in range(dim)])


def namespaces(models: int = 3, scopes: int = 2) -> List[Tuple[str, str]]:
    """(model_id, cache_scope) pairs; placement is by namespace, so more of them spread the
    primaries over more nodes (with 16, a given node of 3 is primary for none with p ~ 0.2 %)."""
    return [(f"load-{chr(ord('a') + m)}::{DIM}", f"t{s + 1}") for m in range(models) for s in range(scopes)]


@dataclass(frozen=True)
class Entry:
    """One insert the test knows everything about."""

    uuid: str
    vector: Tuple[float, ...]
    model_id: str
    cache_scope: Optional[str] = None

    def insert_body(self) -> Dict[str, Any]:
        body: Dict[str, Any] = {"embedding": list(self.vector), "response": f"resp-{self.uuid}", "query_text": "",
                                "model_id": self.model_id, "uuid": self.uuid}
        if self.cache_scope:
            body["cache_scope"] = self.cache_scope
        return body

    def query_body(self, threshold: float = COPY_THRESHOLD) -> Dict[str, Any]:
        body: Dict[str, Any] = {"embedding": list(self.vector), "model_id": self.model_id, "threshold": threshold}
        if self.cache_scope:
            body["cache_scope"] = self.cache_scope
        return body

    def answered_by(self, body: Any) -> bool:
        """A query reply that serves this entry (id and response both)."""
        return (isinstance(body, dict) and body.get("hit") is True and body.get("id") == self.uuid
                and body.get("response") == f"resp-{self.uuid}")


def make_entry(rng: random.Random, uuid: str, ns: Tuple[str, Optional[str]]) -> Entry:
    return Entry(uuid, tuple(rand_vec(rng)), ns[0], ns[1])


def insert_known(cluster: Cluster, count: int, rng: random.Random, nss: Sequence[Tuple[str, str]],
                 via: Optional[Sequence[str]] = None, prefix: str = "known") -> List[Entry]:
    """Inserts `count` entries round-robin through `via` (default: every serving node) into the
    namespaces `nss`; a healthy formed cluster must acknowledge each at once."""
    via = list(via or cluster.serving_ids())
    entries = []
    for i in range(count):
        e = make_entry(rng, f"{prefix}-{i}", nss[i % len(nss)])
        node = via[i % len(via)]
        status, body = cluster[node].call("POST", "/insert", e.insert_body())
        assert status == 200 and isinstance(body, dict) and body.get("id") == e.uuid, \
            f"insert {e.uuid} via {node}: {status} {body}"
        entries.append(e)
    return entries


@dataclass
class WriteRecord:
    entry: Entry
    node_id: str  # the node that acknowledged it
    first_attempt: float
    done_at: float
    attempts: int
    first_failure: Optional[float] = None
    last_error: str = ""

    @property
    def outage(self) -> float:
        """Seconds from sending the first failed attempt to the acknowledgement (or the giving up);
        0 if none failed."""
        return 0.0 if self.first_failure is None else self.done_at - self.first_failure


class WriteLoad:
    """W writer threads over the given nodes; bounded by `per_thread` inserts each and `max_seconds`.

    Writer w starts on via[w % len(via)] and moves to the next node when its node
    does not answer (refused, reset, timed out); 429/502/503/504 are retried on the same
    node after a short interval, until the write's own deadline. Any other answer
    is recorded in `rejected` and the writer moves on: the tests assert there is none.
    `pace` is a minimum interval between one thread's inserts (a rate, so that the
    load lasts across a pause).
    """

    def __init__(self, cluster: Cluster, threads: int = 20, per_thread: int = 400, max_seconds: float = 60.0,
                 write_deadline: float = 10.0, request_timeout: float = 3.0, pace: float = 0.0,
                 nss: Optional[Sequence[Tuple[str, str]]] = None, via: Optional[Sequence[str]] = None,
                 seed: int = 1):
        self.cluster = cluster
        self.threads = threads
        self.per_thread = per_thread
        self.max_seconds = max_seconds
        self.write_deadline = write_deadline
        self.request_timeout = request_timeout
        self.pace = pace
        self.nss = list(nss or namespaces())
        self.via = list(via or cluster.ids)
        self.seed = seed
        self.lock = threading.Lock()
        self.acked: Dict[str, WriteRecord] = {}
        self.failed: Dict[str, WriteRecord] = {}  # gave up: the insert may or may not have landed
        self.rejected: List[Tuple[str, str, Any, Any]] = []  # (uuid, node, status, body)
        self._stop = threading.Event()
        self._workers: List[threading.Thread] = []
        self.started_at = 0.0
        self.ended_at = 0.0
        cluster.on_teardown(self.stop)

    @property
    def planned(self) -> int:
        return self.threads * self.per_thread

    def start(self) -> "WriteLoad":
        self.started_at = time.monotonic()
        self._workers = [threading.Thread(target=self._writer, args=(w,), name=f"writer-{w}", daemon=True)
                         for w in range(self.threads)]
        for t in self._workers:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        """Waits for the writers (they end by themselves within max_seconds + write_deadline)."""
        end = time.monotonic() + timeout
        for t in self._workers:
            t.join(max(0.0, end - time.monotonic()))
        alive = [t.name for t in self._workers if t.is_alive()]
        self.ended_at = time.monotonic()
        assert not alive, f"writers still running after {timeout:.0f} s: {alive}"

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)

    def acked_entries(self) -> List[Entry]:
        with self.lock:
            return [r.entry for r in self.acked.values()]

    def records(self) -> List[WriteRecord]:
        with self.lock:
            return list(self.acked.values())

    def acked_since(self, t: float) -> int:
        with self.lock:
            return sum(1 for r in self.acked.values() if r.done_at >= t)

    def _writer(self, wid: int) -> None:
        rng = random.Random(self.seed * 1000 + wid)
        conns = {i: JsonConn(self.cluster[i].port, self.request_timeout) for i in self.via}
        at = wid % len(self.via)
        try:
            for n in range(self.per_thread):
                began = time.monotonic()
                if self._stop.is_set() or began - self.started_at >= self.max_seconds:
                    return
                entry = make_entry(rng, f"s{self.seed}-w{wid}-{n}", rng.choice(self.nss))
                rec = WriteRecord(entry, "", began, 0.0, 0)
                end = began + self.write_deadline
                while True:
                    node_id = self.via[at % len(self.via)]
                    rec.attempts += 1
                    attempt_at = time.monotonic()
                    try:
                        status, body = conns[node_id].call("POST", "/insert", entry.insert_body())
                    except NO_ANSWER as exc:
                        status, body = None, f"{type(exc).__name__}: {exc}"
                        at += 1  # that node is dead or hung: a client moves on to another node
                    now = time.monotonic()
                    if status == 200 and isinstance(body, dict) and body.get("id") == entry.uuid:
                        rec.node_id, rec.done_at = node_id, now
                        with self.lock:
                            self.acked[entry.uuid] = rec
                        break
                    if status is not None and status not in RETRYABLE:
                        with self.lock:
                            self.rejected.append((entry.uuid, node_id, status, body))
                        break
                    if rec.first_failure is None:
                        rec.first_failure = attempt_at  # the outage began when the failed attempt was sent
                    rec.last_error = f"{node_id}: {status} {body}"[:300]
                    if now >= end or self._stop.is_set():
                        rec.done_at = now
                        with self.lock:
                            self.failed[entry.uuid] = rec
                        break
                    time.sleep(0.05)  # retry interval inside the write's deadline
                if self.pace:
                    rest = began + self.pace - time.monotonic()
                    if rest > 0:
                        time.sleep(rest)  # rate limit, not a wait for a condition
        finally:
            for c in conns.values():
                c.close()

    def summary(self) -> Dict[str, Any]:
        """The numbers a test prints: counts, the longest single-write outage and the longest
        stretch in which the whole cluster acknowledged no write."""
        with self.lock:
            recs = list(self.acked.values())
            failed = list(self.failed.values())
            rejected = len(self.rejected)
        times = sorted(r.done_at for r in recs)
        gaps = [b - a for a, b in zip(times, times[1:])]
        return {
            "acked": len(recs),
            "failed_writes": len(failed),
            "rejected": rejected,
            "retried_writes": sum(1 for r in recs if r.attempts > 1),
            "attempts": sum(r.attempts for r in recs + failed),
            "longest_write_outage_s": round(max((r.outage for r in recs + failed), default=0.0), 3),
            "longest_ack_gap_s": round(max(gaps, default=0.0), 3),
            "duration_s": round((self.ended_at or time.monotonic()) - self.started_at, 2),
            "last_failure": failed[-1].last_error if failed else "",
        }


class DeleteLoad:
    """Deletes entries picked by `choose` through the nodes `via` while other things happen.

    `deleted`: acknowledged (200, or 404 after an earlier attempt got no answer, which
    may have landed). `unknown`: no answer before the delete's deadline or `stop()`, so it
    may or may not have happened; the tests check neither way. `not_found`: 404 at the
    first attempt, i.e. an acknowledged entry the cluster could not find: a loss.
    """

    def __init__(self, cluster: Cluster, choose: Callable[[random.Random], Optional[Entry]], via: Sequence[str],
                 max_count: int = 80, pace: float = 0.1, delete_deadline: float = 8.0, request_timeout: float = 3.0,
                 seed: int = 7):
        self.cluster = cluster
        self.choose = choose
        self.via = list(via)
        self.max_count = max_count
        self.pace = pace
        self.delete_deadline = delete_deadline
        self.request_timeout = request_timeout
        self.rng = random.Random(seed)
        self.deleted: Dict[str, Entry] = {}
        self.unknown: Dict[str, Entry] = {}
        self.not_found: Dict[str, Entry] = {}
        self.rejected: List[Tuple[str, Any, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deleter", daemon=True)
        cluster.on_teardown(self.stop)

    def start(self) -> "DeleteLoad":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"deleter still running after {timeout:.0f} s"

    def _run(self) -> None:
        conns = {i: JsonConn(self.cluster[i].port, self.request_timeout) for i in self.via}
        at = 0
        tried = 0
        try:
            while tried < self.max_count and not self._stop.is_set():
                began = time.monotonic()
                entry = self.choose(self.rng)
                if entry is None:
                    self._stop.wait(self.pace)  # nothing to delete yet: the next tick
                    continue
                tried += 1
                unanswered = False
                end = began + self.delete_deadline
                while True:
                    node_id = self.via[at % len(self.via)]
                    at += 1  # spread the deletes over `via`
                    try:
                        status, body = conns[node_id].call("DELETE", f"/entry/{entry.uuid}")
                    except NO_ANSWER:
                        status, body = None, None
                        unanswered = True
                    if status == 200 and isinstance(body, dict) and body.get("deleted") is True:
                        self.deleted[entry.uuid] = entry
                        break
                    if status == 404:
                        (self.deleted if unanswered else self.not_found)[entry.uuid] = entry
                        break
                    if status is not None and status not in RETRYABLE:
                        self.rejected.append((entry.uuid, status, body))
                        self.unknown[entry.uuid] = entry
                        break
                    if status is not None:
                        unanswered = True  # a 502/504 may still have been applied
                    if time.monotonic() >= end or self._stop.is_set():
                        self.unknown[entry.uuid] = entry
                        break
                    time.sleep(0.05)  # retry interval inside the delete's deadline
                rest = began + self.pace - time.monotonic()
                if rest > 0:
                    self._stop.wait(rest)  # rate limit
        finally:
            for c in conns.values():
                c.close()


@dataclass
class RoutedReport:
    """Outcome of `Checker.wait_routed`: pairs never answered, and pairs answered only on a later pass."""

    missing: Dict[Tuple[str, str], str] = field(default_factory=dict)  # (uuid, via) -> last outcome
    late: int = 0
    seconds: float = 0.0


class Checker:
    """Asks the cluster's nodes about entries, from a thread pool over keep-alive connections."""

    def __init__(self, cluster: Cluster, workers: int = 8, timeout: float = 5.0):
        self.cluster = cluster
        self.timeout = timeout
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="checker")
        cluster.on_teardown(lambda: self.pool.shutdown(wait=False, cancel_futures=True))

    def _query(self, node_id: str, entry: Entry, local: bool) -> str:
        """"hit" | "miss" | "other <id>" | "http <status> ..." | "no answer ..." for one query."""
        path = "/query?local=true" if local else "/query"
        try:
            status, body = self.cluster[node_id].call("POST", path, entry.query_body(), timeout=self.timeout)
        except NO_ANSWER as exc:
            return f"no answer: {type(exc).__name__}"
        if status != 200:
            return f"http {status} {str(body)[:200]}"
        if entry.answered_by(body):
            return "hit"
        if isinstance(body, dict) and body.get("hit") is False:
            return "miss"
        return f"other {str(body)[:200]}"

    def _map(self, fn: Callable[..., Any], jobs: Iterable[Tuple[Any, ...]]) -> List[Any]:
        return list(self.pool.map(lambda args: fn(*args), list(jobs)))

    def holders(self, entries: Sequence[Entry], node_ids: Optional[Sequence[str]] = None) -> Dict[str, List[str]]:
        """uuid -> the nodes (of `node_ids`, default serving) whose local query answers it."""
        ids = list(node_ids or self.cluster.serving_ids())
        jobs = [(i, e, True) for e in entries for i in ids]
        out: Dict[str, List[str]] = {e.uuid: [] for e in entries}
        for (i, e, _), res in zip(jobs, self._map(self._query, jobs)):
            if res == "hit":
                out[e.uuid].append(i)
        return out

    def wait_copies(self, entries: Sequence[Entry], timeout: float, min_copies: int = 2,
                    node_ids: Optional[Sequence[str]] = None) -> Dict[str, List[str]]:
        """Polls until every entry has >= min_copies local copies on `node_ids` (default: serving),
        confirmed by one full pass at the end (rebalancing may move copies); returns the holders."""
        ids = list(node_ids or self.cluster.serving_ids())
        final: Dict[str, List[str]] = {}
        pending = list(entries)

        def check() -> Tuple[bool, str]:
            nonlocal pending
            got = self.holders(pending, ids)
            final.update(got)
            pending = [e for e in pending if len(got[e.uuid]) < min_copies]
            if not pending:
                got = self.holders(entries, ids)
                final.update(got)
                pending = [e for e in entries if len(got[e.uuid]) < min_copies]
            sample = {e.uuid: final.get(e.uuid) for e in pending[:5]}
            return not pending, f"{len(pending)} of {len(entries)} entries have < {min_copies} copies on {ids}, " \
                                f"e.g. {sample}"

        poll_until(check, timeout, f"every entry to have >= {min_copies} local copies", interval=0.2)
        return final

    def wait_routed(self, entries: Sequence[Entry], via: Sequence[str], timeout: float) -> RoutedReport:
        """Polls until a routed query through each node of `via` answers every entry, or `timeout`;
        returns what was never answered (a loss once the cluster has settled) instead of raising."""
        start = time.monotonic()
        report = RoutedReport()
        pending = [(e, i) for e in entries for i in via]
        first = True
        while True:
            results = self._map(lambda e, i: self._query(i, e, False), pending)
            still = [(p, r) for p, r in zip(pending, results) if r != "hit"]
            if not first:
                report.late += len(pending) - len(still)
            first = False
            pending = [p for p, _ in still]
            report.missing = {(e.uuid, i): r for (e, i), r in still}
            if not pending or time.monotonic() - start >= timeout:
                report.seconds = time.monotonic() - start
                return report
            time.sleep(0.2)  # poll interval of a deadline loop

    def answered_anywhere(self, entries: Sequence[Entry], node_ids: Optional[Sequence[str]] = None,
                          local: bool = True, routed: bool = True) -> List[Tuple[str, str, str]]:
        """(uuid, node, "local"|"routed") for every node that still serves one of `entries`."""
        ids = list(node_ids or self.cluster.serving_ids())
        modes = [m for m, on in (("local", local), ("routed", routed)) if on]
        jobs = [(i, e, m == "local") for e in entries for i in ids for m in modes]
        return [(e.uuid, i, "local" if loc else "routed")
                for (i, e, loc), res in zip(jobs, self._map(self._query, jobs)) if res == "hit"]

    def routed_query(self, node_id: str, body: Dict[str, Any]) -> Tuple[int, Any]:
        return self.cluster[node_id].call("POST", "/query", body, timeout=self.timeout)
