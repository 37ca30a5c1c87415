"""Fixtures for the multi-process cluster tests: real ferrocache nodes on loopback.

    def test_something(cluster):
        c = cluster(3)                      # n1..n3, R=2, started and formed
        c["n1"].call("POST", "/insert", {...})
        c.kill("n1"); c.restart("n1")       # kill -9, then the same data dir
        c.pause("n2"); c.resume("n2")       # SIGSTOP / SIGCONT
        c.restart("n3", empty=True)         # same id and ports, emptied data dir
        c.add("n4"); c.start(["n4"]); c.wait_formed()

`cluster(n)` returns a formed cluster: every node lists all n nodes with every
peer "alive" (polled with a deadline). Every node of every cluster a test made,
paused ones included, is stopped at teardown, after the test's write loads are
told to stop; when the test failed, the tail of each node's log is printed.

The long tests carry the `cluster` marker: `pytest -m "not cluster"` leaves
them out. A node that refuses cluster mode fails the test.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
for _p in (HERE, HERE.parent, HERE.parents[1] / "support"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from cluster_harness import Cluster  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "cluster: long multi-process cluster test (kill -9, SIGSTOP, empty disk, join); "
                   "deselect with -m 'not cluster'")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


class ClusterFactory:
    """Makes clusters under one folder and stops them all at the end."""

    def __init__(self, root: Path):
        self.root = root
        self.clusters: List[Cluster] = []

    def __call__(self, n: int = 3, replication_factor: int = 2, tls_dir: Optional[Path] = None,
                 env: Optional[Dict[str, str]] = None, formed_timeout: float = 20.0) -> Cluster:
        c = Cluster(self.root / f"cluster{len(self.clusters) + 1}", replication_factor, tls_dir, env)
        self.clusters.append(c)
        for i in range(1, n + 1):
            c.add(f"n{i}")
        c.start()
        c.wait_formed(timeout=formed_timeout)
        return c

    def close(self, failed: bool) -> None:
        for c in self.clusters:
            if failed:
                print(c.log_tails())
            c.stop_all()


@pytest.fixture
def cluster(request, tmp_path):
    """Factory: `cluster(n=3, replication_factor=2, tls_dir=None, env=None)` -> a formed Cluster."""
    factory = ClusterFactory(tmp_path)
    yield factory
    rep = getattr(request.node, "rep_call", None)
    factory.close(failed=rep is None or rep.failed)


@pytest.fixture(scope="module")
def module_cluster(request, tmp_path_factory):
    """The same factory for clusters shared by a module's tests (each test uses its own namespaces)."""
    factory = ClusterFactory(tmp_path_factory.mktemp("cluster"))
    failed_before = request.session.testsfailed
    yield factory
    factory.close(failed=request.session.testsfailed > failed_before)

