"""The ferrocache image, run as a container (`make image-test`, not `make test`).

Builds nothing itself: `make image-test` builds ferrocache:latest first. The
test runs a container with a named volume and its port published on
127.0.0.1 only, and checks: the image's HEALTHCHECK turns healthy, the node
runs as a non-root user with every shared library present, insert and query
work, `docker stop` (SIGTERM) ends it with exit code 0 and a snapshot well
within the timeout, a restarted container serves the same entries, and a
copy of the stopped node's volume restores into a new container. Every
container and volume it creates is removed at the end.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from typing import Any, Dict, List, Tuple

import pytest

from ferro_node import request

IMAGE = os.environ.get("FERROCACHE_IMAGE", "ferrocache:latest")
STOP_TIMEOUT = 60  # seconds docker gives the node before SIGKILL


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    run = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and run.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {run.returncode}\n{run.stdout}\n{run.stderr}")
    return run.stdout.strip()


def inspect(name: str) -> Dict[str, Any]:
    return json.loads(docker("inspect", name))[0]


def poll(pred, timeout: float, what: str) -> float:
    start = time.monotonic()
    deadline = start + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last is True:
                return time.monotonic() - start
        except (OSError, AssertionError) as exc:
            last = exc
        time.sleep(0.2)  # poll interval of a deadline loop
    raise AssertionError(f"timed out after {timeout}s waiting for {what}: {last}")


def call(port: int, method: str, path: str, body: Any = None) -> Tuple[int, Any]:
    status, headers, payload = request(port, method, path, body=body)
    if headers.get("content-type", "").startswith("application/json"):
        return status, json.loads(payload)
    return status, payload.decode(errors="replace")


@pytest.fixture
def container():
    """Names of a container and a volume; both removed at teardown."""
    docker("image", "inspect", IMAGE)  # fails clearly when the image was not built
    suffix = uuid.uuid4().hex[:8]
    name, volume = f"ferro-imgtest-{suffix}", f"ferro-imgtest-{suffix}"
    docker("volume", "create", volume)
    yield name, volume
    docker("rm", "-fv", name, check=False)
    docker("volume", "rm", "-f", volume, check=False)


def healthy(name: str):
    state = inspect(name)["State"]
    if not state["Running"]:
        raise AssertionError(f"container stopped: {state} {docker('logs', name, check=False)}")
    return state.get("Health", {}).get("Status") == "healthy" or state.get("Health", {}).get("Status")


def published_port(name: str) -> int:
    binding = inspect(name)["NetworkSettings"]["Ports"]["3000/tcp"][0]
    assert binding["HostIp"] == "127.0.0.1"
    return int(binding["HostPort"])


def test_image_serves_stops_cleanly_and_keeps_data(container):
    name, volume = container
    timings: List[str] = []
    image = inspect(IMAGE)
    size_mb = image["Size"] / 1e6
    timings.append(f"image size {size_mb:.1f} MB")
    cfg = image["Config"]
    assert cfg["User"] and not cfg["User"].startswith("root") and not cfg["User"].startswith("0")
    assert "/data" in cfg["Volumes"]
    assert "3000/tcp" in cfg["ExposedPorts"]
    assert "FERROCACHE_DATA_DIR=/data" in cfg["Env"]
    assert cfg["Healthcheck"]["Test"]

    t0 = time.monotonic()
    # The image's own HEALTHCHECK command, polled every second for the test.
    docker("run", "-d", "--name", name, "-v", f"{volume}:/data", "-p", "127.0.0.1::3000",
           "--health-interval", "1s", "--health-start-period", "30s",
           "--stop-timeout", str(STOP_TIMEOUT), "-e", "FERROCACHE_NODE_ID=imgtest", IMAGE)
    poll(lambda: healthy(name), 60, "the container's HEALTHCHECK to pass")
    timings.append(f"start -> healthy {time.monotonic() - t0:.1f}s")
    port = published_port(name)

    uid = docker("exec", name, "id", "-u")
    assert uid != "0", "the node runs as root"
    libs = docker("exec", name, "ldd", "/usr/local/bin/ferrocache")
    assert "not found" not in libs, libs

    status, health = call(port, "GET", "/health")
    assert status == 200 and health["node_id"] == "imgtest", health
    vec = [0.1 * (i + 1) for i in range(8)]
    ids = []
    for i in range(20):
        v = [x + 0.01 * i * (j % 3) for j, x in enumerate(vec)]
        status, body = call(port, "POST", "/insert", {"embedding": v, "response": f"answer {i}",
                                                      "query_text": f"question {i}", "model_id": "img::8"})
        assert status == 200, body
        ids.append(body["id"])
    status, hit = call(port, "POST", "/query", {"embedding": vec, "model_id": "img::8", "query_text": "question 0"})
    assert status == 200 and hit["hit"] and hit["id"] == ids[0] and hit["response"] == "answer 0", hit

    before = docker("exec", name, "ls", "-R", "/data")
    assert not re.search(r"\bs-\d+-\d+", before), f"a snapshot before the stop already:\n{before}"

    # docker stop: SIGTERM, a snapshot, exit 0, well within the timeout.
    t0 = time.monotonic()
    docker("stop", "-t", str(STOP_TIMEOUT), name, timeout=STOP_TIMEOUT + 30)
    stop_s = time.monotonic() - t0
    timings.append(f"docker stop {stop_s:.2f}s")
    state = inspect(name)["State"]
    out = subprocess.run(["docker", "logs", name], capture_output=True, text=True, timeout=30)
    logs = out.stdout + out.stderr  # the node logs to stderr
    assert state["ExitCode"] == 0 and not state["OOMKilled"], (state, logs[-3000:])
    assert stop_s < STOP_TIMEOUT / 2, f"docker stop took {stop_s:.1f}s"
    assert "signal 15 received" in logs and "stopped" in logs, logs[-3000:]
    listing = docker("run", "--rm", "-v", f"{volume}:/data", "--entrypoint", "ls", IMAGE, "-R", "/data")
    assert re.search(r"\bs-\d+-\d+", listing), f"no snapshot in the volume after a clean stop:\n{listing}"

    # Restart: the same container, the same volume, the same entries.
    t0 = time.monotonic()
    docker("start", name)
    poll(lambda: healthy(name), 60, "the restarted container's HEALTHCHECK to pass")
    timings.append(f"restart -> healthy {time.monotonic() - t0:.1f}s")
    port = published_port(name)
    status, stats = call(port, "GET", "/stats")
    assert status == 200 and stats["entry_count"] == 20, stats
    for i in (0, 7, 19):
        v = [x + 0.01 * i * (j % 3) for j, x in enumerate(vec)]
        status, hit = call(port, "POST", "/query", {"embedding": v, "model_id": "img::8",
                                                    "query_text": f"question {i}"})
        assert status == 200 and hit["hit"] and hit["id"] == ids[i], hit

    # Backup: a copy of the stopped node's volume restores into a new one.
    docker("stop", "-t", str(STOP_TIMEOUT), name, timeout=STOP_TIMEOUT + 30)
    assert inspect(name)["State"]["ExitCode"] == 0
    copy_name, copy_volume = name + "-restored", volume + "-restored"
    try:
        # A new named volume mounted at /data takes the image's ownership.
        docker("run", "--rm", "-v", f"{volume}:/backup-source:ro", "-v", f"{copy_volume}:/data",
               "--entrypoint", "cp", IMAGE, "-a", "/backup-source/.", "/data/")
        t0 = time.monotonic()
        docker("run", "-d", "--name", copy_name, "-v", f"{copy_volume}:/data", "-p", "127.0.0.1::3000",
               "--health-interval", "1s", IMAGE)
        poll(lambda: healthy(copy_name), 60, "the restored container's HEALTHCHECK to pass")
        timings.append(f"restore from copy -> healthy {time.monotonic() - t0:.1f}s")
        port = published_port(copy_name)
        status, stats = call(port, "GET", "/stats")
        assert status == 200 and stats["entry_count"] == 20, stats
        status, hit = call(port, "POST", "/query", {"embedding": vec, "model_id": "img::8"})
        assert status == 200 and hit["hit"] and hit["id"] == ids[0], hit
    finally:
        docker("rm", "-fv", copy_name, check=False)
        docker("volume", "rm", "-f", copy_volume, check=False)
    print("; ".join(timings))


def test_image_reads_a_mounted_config_file_and_variables_override_it(tmp_path):
    """/etc/ferrocache/ferrocache.toml (the working directory) is read; FERROCACHE_* wins over it."""
    name = f"ferro-imgtest-{uuid.uuid4().hex[:8]}"
    conf = tmp_path / "ferrocache.toml"
    conf.write_text('node_id = "from-toml"\n[hnsw]\nef_search = 48\nmax_nb_connection = 24\n')
    conf.chmod(0o644)
    try:
        docker("run", "-d", "--name", name, "-p", "127.0.0.1::3000", "--health-interval", "1s",
               "-v", f"{conf}:/etc/ferrocache/ferrocache.toml:ro", "-e", "FERROCACHE_HNSW__EF_SEARCH=64", IMAGE)
        poll(lambda: healthy(name), 60, "the container's HEALTHCHECK to pass")
        port = published_port(name)
        status, health = call(port, "GET", "/health")
        assert status == 200 and health["node_id"] == "from-toml", health
        status, stats = call(port, "GET", "/stats")
        assert stats["hnsw"]["max_nb_connection"] == 24 and stats["hnsw"]["ef_search"] == 64, stats
    finally:
        docker("rm", "-fv", name, check=False)
