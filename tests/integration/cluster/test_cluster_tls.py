"""Mutual TLS on the cluster port: nodes with certificates of the cluster's CA
form and replicate; a node that cannot prove it belongs (a certificate of
another CA, or one that names another node) never becomes a member anyone sees
alive, and the members keep serving writes while it knocks.

Certificates come from deploy/make-cluster-certs.sh, the script operators use;
a second run into another folder makes a foreign CA.
"""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Dict, List

import pytest

from cluster_harness import Cluster, formed_problem, make_certs
from cluster_load import Checker, Entry, make_entry, namespaces

pytestmark = pytest.mark.timeout(120)
IDS = ["n1", "n2", "n3"]
WATCH_S = 5.0


def outsider_watch(c: Cluster, outsider: str, rng: random.Random, seconds: float) -> Dict[str, object]:
    """For `seconds`, writes through the members in turn (each must be acknowledged at once) and
    checks every member's status: the members see each other alive, `outsider` never alive."""
    end = time.monotonic() + seconds
    written: List[Entry] = []
    alive_sightings: List[str] = []
    listed = set()
    problems: List[str] = []
    n = 0
    while time.monotonic() < end:  # a fixed observation window; each pass is a few requests
        via = IDS[n % len(IDS)]
        e = make_entry(rng, f"tls-{outsider}-{n}", namespaces(2, 2)[n % 4])
        n += 1
        status, body = c[via].call("POST", "/insert", e.insert_body())
        assert status == 200, f"insert via {via} while {outsider} knocks: {status} {body}"
        written.append(e)
        for i in IDS:
            st = c.status(i)
            if ((st.get("peer_health") or {}).get(outsider) or {}).get("status") == "alive":
                alive_sightings.append(i)
            if outsider in (st.get("nodes") or []):
                listed.add(i)
            problem = formed_problem(st, i, IDS, exact=False)
            if problem:
                problems.append(problem)
        time.sleep(0.05)  # interval between passes
    return {"written": written, "alive": alive_sightings, "listed": sorted(listed), "problems": problems}


@pytest.fixture
def tls_trio(cluster, tmp_path) -> Cluster:
    certs = make_certs(tmp_path / "certs", "n1", "n2", "n3")
    return cluster(3, tls_dir=certs)


def test_mtls_cluster_forms_and_replicates(tls_trio):
    c = tls_trio
    e = make_entry(random.Random(1), "tls-0", namespaces(1, 1)[0])
    status, body = c["n1"].call("POST", "/insert", e.insert_body())
    assert status == 200, body
    holders = Checker(c).wait_copies([e], timeout=10)[e.uuid]
    print(f"{e.uuid} held by {holders}")
    assert len(holders) == 2, holders
    for i in IDS:
        assert e.answered_by(c[i].call("POST", "/query", e.query_body())[1]), i


def check_outsider_refused(c: Cluster, outsider: str, seed: int, may_refuse_to_start: bool = False) -> None:
    """Starts `outsider` and checks, for WATCH_S, that it never becomes alive for a member while the
    members stay formed and acknowledge writes; afterwards it holds no copy."""
    try:
        c.start([outsider])  # /health is 200 once its own (empty) data is recovered, peers or not
    except RuntimeError:
        # A node may check at start-up that its certificate names it, and stop: also a refusal.
        if not may_refuse_to_start or c[outsider].running:
            raise
        print(f"{outsider} refused to start: {c[outsider].log_tail(500)}")
    seen = outsider_watch(c, outsider, random.Random(seed), WATCH_S)
    written = seen["written"]
    checker = Checker(c)
    checker.wait_copies(written, timeout=10, node_ids=IDS)
    on_outsider = [u for u, h in checker.holders(written, [outsider]).items() if h] if c[outsider].running else []
    print(f"{outsider}: {len(written)} writes acknowledged in {WATCH_S}s; seen alive by {seen['alive']}; "
          f"listed by {seen['listed']}; member problems {seen['problems'][:3]}; copies on it {len(on_outsider)}")
    assert not seen["alive"], f"{outsider} was seen alive by {seen['alive']}"
    assert not seen["problems"], seen["problems"][:5]
    assert not on_outsider, f"{outsider} got copies: {on_outsider[:5]}"


def test_a_node_with_a_certificate_of_another_ca_never_joins(tls_trio, tmp_path):
    c = tls_trio
    foreign: Path = make_certs(tmp_path / "foreign", "n4")  # same names, another CA
    c.add("n4", seeds=[c[i].peer_address for i in IDS], tls_dir=foreign)
    check_outsider_refused(c, "n4", seed=2)


def test_a_node_whose_certificate_names_another_node_never_joins(tls_trio):
    c = tls_trio
    # A valid certificate of the cluster's CA, but for n3: the handshake claims n4.
    c.add("n4", seeds=[c[i].peer_address for i in IDS], cert_name="n3")
    check_outsider_refused(c, "n4", seed=3, may_refuse_to_start=True)
