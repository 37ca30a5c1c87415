"""Static checks of the deployment files (no Docker needed).

The compose files carry what docs/deploy.md promises (names, ports, cluster
settings, volumes, TLS paths), every FERROCACHE_* variable they set names a
configuration key of the contract, and the Dockerfile keeps its runtime
properties. The containers themselves are tested by `make image-test`.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from ferro_node import REPO, FerroNode, free_port

API_MD = (REPO / "docs" / "api.md").read_text()
OPERATIONS_MD = (REPO / "docs" / "operations.md").read_text()


def load(name: str):
    return yaml.safe_load((REPO / name).read_text())


def config_key(var: str) -> str:
    """FERROCACHE_CLUSTER__TLS__ENABLED -> cluster.tls.enabled"""
    return var[len("FERROCACHE_"):].lower().replace("__", ".")


def documented(key: str) -> bool:
    return f"`{key}`" in API_MD or f"`{key}`" in OPERATIONS_MD


def test_three_node_compose_matches_the_issue():
    compose = load("docker-compose.yml")
    services = compose["services"]
    assert sorted(services) == ["ferrocache-node1", "ferrocache-node2", "ferrocache-node3"]
    seeds = set()
    for i in (1, 2, 3):
        svc = services[f"ferrocache-node{i}"]
        env = svc["environment"]
        # No container_name, so that projects (-p NAME, as `make cluster-test` runs) never clash.
        assert "container_name" not in svc
        assert svc["hostname"] == f"ferrocache-node{i}"
        assert svc["image"] == "ferrocache:latest"
        assert svc["ports"] == [f"${{FERROCACHE_PUBLISH_ADDRESS:-127.0.0.1}}:${{FERROCACHE_NODE{i}_HOST_PORT:-300{i}}}:3000"]
        assert env["FERROCACHE_CLUSTER__ENABLED"] == "true"
        assert env["FERROCACHE_CLUSTER__REPLICATION_FACTOR"] == "2"
        assert env["FERROCACHE_CLUSTER__ADVERTISE_HOST"] == f"ferrocache-node{i}"
        assert env["FERROCACHE_NODE_ID"] == f"node{i}"
        # Both set, the timeout at least twice the heartbeat (app/config.cpp refuses less).
        assert 2 * int(env["FERROCACHE_CLUSTER__HEARTBEAT_INTERVAL_MS"]) <= int(env["FERROCACHE_CLUSTER__REPLICATION_TIMEOUT_MS"])
        port = env["FERROCACHE_CLUSTER__PORT"]
        seeds.add(env["FERROCACHE_CLUSTER__SEED_NODES"])
        (volume,) = svc["volumes"]
        name, target = volume.split(":")
        assert target == "/data" and name in compose["volumes"]
    # One seed list naming every node on the cluster port.
    assert seeds == {",".join(f"ferrocache-node{i}:{port}" for i in (1, 2, 3))}
    assert len(compose["volumes"]) == 3


def test_tls_overlay_gives_every_node_its_own_certificate():
    tls = load("docker-compose.tls.yml")
    base = load("docker-compose.yml")["services"]
    assert sorted(tls["services"]) == ["ferrocache-node1", "ferrocache-node2", "ferrocache-node3"]
    for name, svc in tls["services"].items():
        env = svc["environment"]
        # A certificate must name its node id (cluster/transport/README.md, "TLS"), and
        # deploy/make-cluster-certs.sh names the files after the names it is given: node ids.
        node_id = base[name]["environment"]["FERROCACHE_NODE_ID"]
        assert env["FERROCACHE_CLUSTER__TLS__ENABLED"] == "true"
        assert env["FERROCACHE_CLUSTER__TLS__CA_CERT_PATH"] == "/etc/ferrocache/certs/ca.pem"
        assert env["FERROCACHE_CLUSTER__TLS__NODE_CERT_PATH"] == f"/etc/ferrocache/certs/{node_id}.pem"
        assert env["FERROCACHE_CLUSTER__TLS__NODE_KEY_PATH"] == f"/etc/ferrocache/certs/{node_id}.key"
        assert any(v.endswith(":/etc/ferrocache/certs:ro") for v in svc["volumes"])


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.tls.yml", "docker-compose.single.yml"])
def test_compose_variables_name_documented_keys(name):
    for svc in load(name)["services"].values():
        for var in svc.get("environment", {}):
            if var.startswith("FERROCACHE_"):
                assert documented(config_key(var)), f"{name}: {var} is no key of docs/api.md or operations.md"


def test_compose_files_are_valid_for_docker_compose():
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed")
    for files in (["docker-compose.yml"], ["docker-compose.yml", "docker-compose.tls.yml"],
                  ["docker-compose.single.yml", "deploy/monitoring/docker-compose.monitoring.yml"],
                  ["docker-compose.yml", "docker-compose.tls.yml", "deploy/monitoring/docker-compose.monitoring.yml"]):
        args = [compose]
        for f in files:
            args += ["-f", f]
        run = subprocess.run(args + ["config", "-q"], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, f"{files}: {run.stderr}"


def test_dockerfile_runtime_properties():
    text = (REPO / "Dockerfile").read_text()
    assert re.findall(r"^FROM (.+)$", text, flags=re.M) == ["${BASE_IMAGE} AS build", "${BASE_IMAGE}"]
    assert "ARG BASE_IMAGE=debian:bookworm-slim" in text
    assert "deploy/install-deps.sh --build" in text
    assert "-DFERRO_TESTS=OFF" in text and "-DCMAKE_BUILD_TYPE=Release" in text
    runtime = text[text.rindex("FROM "):]
    user = re.search(r"^USER (\S+)", runtime, flags=re.M).group(1)
    assert not user.startswith(("root", "0"))
    assert re.search(r'^VOLUME \["/data"\]', runtime, flags=re.M)
    assert "FERROCACHE_DATA_DIR=/data" in runtime
    assert re.search(r"^EXPOSE 3000$", runtime, flags=re.M)
    assert re.search(r"^HEALTHCHECK .*ferrocache-healthcheck", runtime, flags=re.M | re.S)
    # The runtime stage installs no compiler and no -dev package.
    assert "install-deps" not in runtime and "-dev" not in runtime


def test_healthcheck_script_accepts_only_200(tmp_path):
    """The image's health check against a real node: 200 passes; a closed port fails."""
    script = REPO / "deploy" / "docker" / "healthcheck.sh"
    closed = subprocess.run(["bash", str(script)], env={"FERROCACHE_PORT": str(free_port()), "PATH": "/usr/bin:/bin"},
                            capture_output=True, timeout=10)
    assert closed.returncode != 0
    with FerroNode(tmp_path / "node") as node:
        ok = subprocess.run(["bash", str(script)], env={"FERROCACHE_PORT": str(node.port), "PATH": "/usr/bin:/bin"},
                            capture_output=True, timeout=10)
        assert ok.returncode == 0, ok.stderr
