"""docker-compose.single.yml with the monitoring overlay (`make image-test`).

Starts the single node and Prometheus (image ferrocache-prometheus:latest)
under a project name of its own, with host ports chosen free on 127.0.0.1,
and checks: the node answers, Prometheus scrapes it through the compose
network with the shipped configuration and rules, and `stop` ends the node
with exit code 0. `down -v` removes the containers, the network and the
volumes at the end. The 3-node docker-compose.yml is run by `make
cluster-test` (tests/container/cluster_test.py).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from typing import List

import pytest

from ferro_node import REPO, free_port, request


def compose_command() -> List[str]:
    if os.environ.get("COMPOSE"):
        return os.environ["COMPOSE"].split()
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return ["docker", "compose"]


def poll(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last is True:
                return
        except OSError as exc:
            last = exc
        time.sleep(0.5)  # poll interval of a deadline loop
    raise AssertionError(f"timed out after {timeout}s waiting for {what}: {last}")


@pytest.fixture
def project():
    name = "ferroimgtest" + uuid.uuid4().hex[:8]
    env = dict(os.environ, FERROCACHE_HOST_PORT=str(free_port()), PROMETHEUS_HOST_PORT=str(free_port()),
               PROMETHEUS_CONFIG="prometheus.single.yml", FERROCACHE_PUBLISH_ADDRESS="127.0.0.1")
    base = [*compose_command(), "-p", name, "-f", "docker-compose.single.yml",
            "-f", "deploy/monitoring/docker-compose.monitoring.yml"]

    def run(*args: str, check: bool = True, timeout: float = 180) -> str:
        out = subprocess.run([*base, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise AssertionError(f"{' '.join(base + list(args))}: {out.returncode}\n{out.stdout}\n{out.stderr}")
        return out.stdout.strip()

    run.env = env
    yield run
    run("down", "-v", "--remove-orphans", check=False)


def test_single_node_compose_with_prometheus(project):
    env = project.env
    t0 = time.monotonic()
    project("up", "-d", "--no-build")
    node_port = int(env["FERROCACHE_HOST_PORT"])
    prom = f"http://127.0.0.1:{env['PROMETHEUS_HOST_PORT']}"

    poll(lambda: request(node_port, "GET", "/health", timeout=2)[0] == 200, 60, "the node's /health")
    started = time.monotonic() - t0
    status, _, body = request(node_port, "POST", "/insert", body={
        "embedding": [0.3, 0.1, 0.2], "response": "r", "query_text": "compose", "model_id": "compose::3"})
    assert status == 200, body

    def prom_value(expr: str) -> float:
        url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=3) as r:
            res = json.loads(r.read())["data"]["result"]
        return float(res[0]["value"][1]) if res else float("nan")

    # The shipped configuration scrapes every 15 s: two scrapes at most.
    poll(lambda: prom_value('ferrocache_inserts_total{job="ferrocache"}') >= 1, 90,
         "Prometheus to scrape the insert through the compose network")
    with urllib.request.urlopen(prom + "/api/v1/rules", timeout=3) as r:
        rules = json.loads(r.read())["data"]["groups"]
    assert sum(len(g["rules"]) for g in rules) == 8, rules

    cid = project("ps", "-q", "ferrocache")
    project("stop", "-t", "60")
    state = json.loads(subprocess.run(["docker", "inspect", cid], capture_output=True, text=True,
                                      check=True).stdout)[0]["State"]
    assert state["ExitCode"] == 0, state
    print(f"compose up -> node healthy {started:.1f}s; scraped by Prometheus at {time.monotonic() - t0:.1f}s")
