"""Bad input on the cluster port of a running node: garbage bytes, a header
that declares 4 GiB, a truncated hello, a hello of another wire version, a
hello that claims a connected peer's node id, and a crowd of idle
connections. Each is refused (the node's transport metrics count it), the
node's memory does not jump, and no established peer connection is
disturbed: the node keeps its two peers in both directions, no peer had to
redial, and writes through it still reach their replicas.
"""
from __future__ import annotations

import random
import socket
import struct
import time
from typing import Dict

import pytest

from cluster_harness import Deadline, poll_until
from cluster_load import Checker, insert_known, namespaces

IDS = ["n1", "n2", "n3"]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def hello(node_id: str, advertise: str, version: int) -> bytes:
    nid, adv = node_id.encode(), advertise.encode()
    payload = (b"FCT1" + b"\x01" + struct.pack(">IQ", version, 12345) + struct.pack(">H", len(nid)) + nid +
               struct.pack(">H", len(adv)) + adv)
    return struct.pack(">I", len(payload)) + payload


def read_until_closed(s: socket.socket, timeout: float) -> bytes:
    """What the node sends before it closes the connection (fails if it does not close in time)."""
    s.settimeout(0.2)
    got = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return got
        if not chunk:
            return got
        got += chunk
    raise AssertionError(f"the node kept the connection open for {timeout}s (got {got[:64]!r})")


def refusal_reason(data: bytes) -> str:
    assert len(data) >= 7, f"expected a refusal frame, got {data!r}"
    (length,) = struct.unpack(">I", data[:4])
    payload = data[4:4 + length]
    assert payload[:5] == b"FCT1\x02", f"not a refusal: {payload[:16]!r}"
    (n,) = struct.unpack(">H", payload[5:7])
    return payload[7:7 + n].decode(errors="replace")


def refusals(m: Dict[str, float], kind: str) -> float:
    return m.get(f'ferrocache_transport_refusals_total{{kind="{kind}"}}', 0)


@pytest.mark.cluster
@pytest.mark.timeout(150)
def test_garbage_on_the_cluster_port_is_refused_and_disturbs_no_peer(cluster):
    budget = Deadline(100)
    c = cluster(3)
    node = c["n1"]
    addr = ("127.0.0.1", node.peer_port)
    before = node.metrics()
    rss_before = rss_kib(node.proc.pid)
    assert before['ferrocache_transport_peer_connections{direction="out"}'] == 2
    assert before['ferrocache_transport_peer_connections{direction="in"}'] == 2
    opened = 0

    # 1. Random bytes: no handshake, closed without a reply.
    rng = random.Random(20261207)
    with socket.create_connection(addr, timeout=5) as s:
        opened += 1
        s.sendall(bytes(rng.getrandbits(8) for _ in range(4096)))
        read_until_closed(s, timeout=budget.cap(10))

    # 2. A header declaring 4 GiB - 1: refused before anything is allocated.
    with socket.create_connection(addr, timeout=5) as s:
        opened += 1
        s.sendall(b"\xff\xff\xff\xff" + b"\x00" * 28)
        read_until_closed(s, timeout=budget.cap(10))

    # 3. A truncated hello, then the sender goes away.
    with socket.create_connection(addr, timeout=5) as s:
        opened += 1
        s.sendall(hello("n9", "127.0.0.1:9", version=1)[:12])
        s.shutdown(socket.SHUT_WR)
        read_until_closed(s, timeout=budget.cap(10))

    # 4. A hello of another wire version: a refusal that says so.
    with socket.create_connection(addr, timeout=5) as s:
        opened += 1
        s.sendall(hello("n9", "127.0.0.1:9", version=0xBAD))
        reason = refusal_reason(read_until_closed(s, timeout=budget.cap(10)))
        assert "version" in reason, reason
        speaks = int(reason.rsplit(" ", 1)[1])  # "... this node speaks N": frame and message versions
    # 5. A hello that claims n2, which is connected from elsewhere: refused.
    with socket.create_connection(addr, timeout=5) as s:
        opened += 1
        s.sendall(hello("n2", "127.0.0.1:1", version=speaks))
        reason = refusal_reason(read_until_closed(s, timeout=budget.cap(10)))
        assert "n2" in reason, reason

    # 6. Forty idle connections that never say hello: each times out.
    crowd = [socket.create_connection(addr, timeout=5) for _ in range(40)]
    opened += len(crowd)
    try:
        for s in crowd:
            read_until_closed(s, timeout=budget.cap(15))
    finally:
        for s in crowd:
            s.close()

    after = node.metrics()
    print({k: after[k] - before.get(k, 0) for k in after if k.startswith("ferrocache_transport_")})
    # Every connection of this test was refused, one way or another (a first
    # frame above 1 KiB, the 4 GiB header included, is a refused handshake).
    refused = sum(refusals(after, k) - refusals(before, k) for k in ("handshake", "protocol", "oversized"))
    assert refused >= opened
    assert refusals(after, "handshake") - refusals(before, "handshake") >= 2 + 40
    # Nothing but this test's connections was accepted meanwhile: no peer
    # lost its connection to n1 and had to redial.
    accepted = (after["ferrocache_transport_connections_accepted_total"] -
                before["ferrocache_transport_connections_accepted_total"])
    assert accepted == opened
    assert after['ferrocache_transport_peer_connections{direction="out"}'] == 2
    assert after['ferrocache_transport_peer_connections{direction="in"}'] == 2
    grew = rss_kib(node.proc.pid) - rss_before
    assert grew < 64 * 1024, f"RSS grew by {grew} KiB"
    c.wait_formed(timeout=budget.cap(10))

    # Writes through n1 still reach their replicas, and every node answers.
    entries = insert_known(c, 60, random.Random(7), namespaces(3, 1), via=["n1"])
    checker = Checker(c)
    held = checker.wait_copies(entries, timeout=budget.cap(20))
    assert all(len(h) == 2 for h in held.values()), held
    routed = checker.wait_routed(entries, via=IDS, timeout=budget.cap(15))
    assert not routed.missing
