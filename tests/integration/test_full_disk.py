"""A full disk is survivable: writes fail cleanly, reads go on, writes resume.

Runs the real binary with its data on a small tmpfs that the test mounts
itself (root only; skipped elsewhere with the reason).
"""
from __future__ import annotations

import os
import random
import subprocess

import pytest

from ferro_node import FerroNode
from helpers import Api, rand_vec, wait_until

DIM = 64


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill_file(path, free_to_leave: int) -> None:
    """Writes zeros until at most `free_to_leave` bytes remain on the filesystem."""
    st = os.statvfs(path.parent)
    avail = st.f_bavail * st.f_frsize
    size = max(0, avail - free_to_leave)
    with open(path, "wb") as f:
        chunk = b"\0" * (1 << 20)
        while size > 0:
            n = min(size, len(chunk))
            try:
                f.write(chunk[:n])
            except OSError:
                break
            size -= n


@pytest.fixture
def disk_node(small_disk):
    node = FerroNode(small_disk / "data", env={"FERROCACHE_LMDB_MAP_SIZE_BYTES": str(64 << 20),
                                               "FERROCACHE_COMPACT_INTERVAL_INSERTS": "0"})
    # The node's log lives in the tmpfs; its own log file must not.
    node.log_path = small_disk.parent / "node.log"
    yield node
    node.stop()


def test_writes_fail_cleanly_on_a_full_disk_and_resume_when_space_returns(small_disk, disk_node):
    rng = random.Random(99)
    node = disk_node
    node.start()
    api = Api(node.port)
    acked = {}
    for i in range(20):
        v = rand_vec(rng, DIM)
        status, body = api.insert(v, response="x" * 2000)
        assert status == 200, body
        acked[body["id"]] = v
    filler = small_disk / "filler"
    fill_file(filler, free_to_leave=256 << 10)

    failures = 0
    for i in range(2000):  # bounded: 2000 x 8 KB is far more than the space left
        v = rand_vec(rng, DIM)
        status, body = api.insert(v, response="y" * 8000)
        if status == 200:
            acked[body["id"]] = v
            continue
        assert status in (500, 503, 507), body
        assert "error" in body
        failures += 1
        if failures >= 3:
            break
    print(f"{len(acked)} inserts acknowledged before the disk filled; {failures} refused")
    assert failures >= 3, "the disk never filled up"

    # Reads keep working while the disk is full.
    for uid, v in list(acked.items())[:20]:
        assert api.query(v, threshold=0.999)[1].get("id") == uid
    assert api.call("GET", "/health")[0] == 200

    filler.unlink()

    def insert_works() -> bool:
        v = rand_vec(rng, DIM)
        status, body = api.insert(v, response="z")
        if status == 200:
            acked[body["id"]] = v
        return status == 200

    wait_until(insert_works, timeout=20, what="writes to resume")

    assert node.stop() == 0
    node.start()
    api = Api(node.port)
    for uid, v in acked.items():
        assert api.query(v, threshold=0.999)[1].get("id") == uid, f"acknowledged {uid} lost"
    node.stop()
