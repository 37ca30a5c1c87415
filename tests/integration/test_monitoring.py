"""deploy/monitoring/ works against a real node.

- promtool accepts the Prometheus configurations and the alert rules, and the
  rules' unit tests pass (deploy/monitoring/check.sh).
- Debian's Prometheus, on loopback, scrapes a real node that gets some
  traffic, with the shipped scrape job and rule file; then every query of the
  Grafana dashboard is evaluated through Prometheus's HTTP API and must return
  data. Panels of cluster-only metrics are skipped, by name, on a single
  node (the test checks that it does not export them); a second run scrapes
  a real 3-node cluster and evaluates every panel, those included.
"""
from __future__ import annotations

import json
import math
import random
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from ferro_node import REPO, free_port, request
from helpers import Api, rand_vec

MONITORING = REPO / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "ferrocache.json"
DEPLOY_MD = REPO / "docs" / "deploy.md"

# Metrics the dashboard and the alerts use that only cluster mode exports.
# Each must also be listed in docs/deploy.md. Remove a name once the node
# exports it: the test then evaluates its panels like every other one.
CLUSTER_ONLY_METRICS = {
    "ferrocache_cluster_peer_phi": "phi per peer from the failure detector (cluster mode)",
    "ferrocache_cluster_under_replicated_namespaces": "namespaces with fewer than R replicas (cluster mode)",
    "ferrocache_replication_lag_seconds": "age of the oldest write not acknowledged by every replica (cluster mode)",
    "ferrocache_replication_timeouts_total": "replica writes that timed out (cluster mode)",
    "ferrocache_failovers_total": "elections this node won, i.e. namespaces it took the lead of (cluster mode)",
}

# Grafana's built-in variables and the dashboard's own, as Grafana would
# expand them for "All nodes" over the last hour.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s", "$instance": ".*"}

METRIC_NAME = re.compile(r"\bferrocache_[a-z0-9_]+")


def dashboard_targets() -> List[Dict[str, Any]]:
    dash = json.loads(DASHBOARD.read_text())
    out = []
    for panel in dash["panels"]:
        for t in panel.get("targets", []):
            out.append({"panel": panel["title"], "ref": t["refId"], "expr": t["expr"]})
    return out


def expand(expr: str) -> str:
    # Longest names first: "$__range" must not eat the start of another variable.
    for var in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(var, GRAFANA_VARIABLES[var])
    assert "$" not in expr, f"unexpanded variable in {expr}"
    return expr


def base_metric(name: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def cluster_only(expr: str) -> List[str]:
    return sorted({base_metric(m) for m in METRIC_NAME.findall(expr)} & set(CLUSTER_ONLY_METRICS))


# ---------------------------------------------------------------- static checks


def test_promtool_checks_configs_rules_and_rule_unit_tests():
    if shutil.which("promtool") is None:
        pytest.skip("promtool not installed (deploy/install-deps.sh installs it)")
    run = subprocess.run(["bash", str(MONITORING / "check.sh")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_dashboard_is_well_formed_and_provisioned():
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    ds = yaml.safe_load((MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = ds["datasources"][0]["uid"]
    for panel in dash["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"panel {panel['title']} has no query"
        assert panel["datasource"]["uid"] == uid, panel["title"]
        for t in panel["targets"]:
            assert t["datasource"]["uid"] == uid, panel["title"]
    prov = yaml.safe_load((MONITORING / "grafana" / "provisioning" / "dashboards" / "ferrocache.yml").read_text())
    assert prov["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    # Panels fit the 24-column grid and do not overlap.
    cells = {}
    for panel in dash["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
    # The issue's panels are all there.
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for word in ["hit rate", "query latency", "insert latency", "inserts per second", "entries per namespace",
                 "phi", "replication lag", "failovers", "write-ahead log", "snapshots", "recovery backlog"]:
        assert word in titles, word


def test_cluster_only_metrics_are_documented():
    text = DEPLOY_MD.read_text()
    for name in CLUSTER_ONLY_METRICS:
        assert f"`{name}`" in text, f"{name} is not listed in docs/deploy.md"


# ----------------------------------------------------- Prometheus against a node


class Prometheus:
    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> Dict[str, Any]:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())

    def query(self, expr: str) -> Dict[str, Any]:
        try:
            return self.get("/api/v1/query", query=expr)
        except urllib.error.HTTPError as err:  # 400/422 carry the PromQL error as JSON
            return json.loads(err.read())

    def scalar(self, expr: str) -> float:
        res = self.query(expr)
        if res.get("status") != "success" or not res["data"]["result"]:
            return float("nan")
        return float(res["data"]["result"][0]["value"][1])


def poll(pred, timeout: float, what: str, proc: subprocess.Popen = None, log: Path = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.1)  # poll interval of a deadline loop
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def prometheus_on(tmp_path):
    """Starts Debian's prometheus on loopback scraping the given node port(s)."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus not installed (deploy/install-deps.sh installs it)")
    procs = []

    def start(node_port, *more_ports: int) -> Prometheus:
        # The shipped configuration, with the test node as the only target
        # and a 1 s scrape interval.
        cfg = yaml.safe_load((MONITORING / "prometheus.single.yml").read_text())
        cfg["global"]["scrape_interval"] = "1s"
        cfg["global"]["scrape_timeout"] = "1s"
        cfg["global"]["evaluation_interval"] = "1s"
        cfg["rule_files"] = [str(MONITORING / f) for f in cfg["rule_files"]]
        (job,) = cfg["scrape_configs"]
        assert job["job_name"] == "ferrocache"
        job["static_configs"] = [{"targets": [f"127.0.0.1:{p}" for p in (node_port, *more_ports)]}]
        conf = tmp_path / "prometheus.yml"
        conf.write_text(yaml.safe_dump(cfg))
        port = free_port()
        log = tmp_path / "prometheus.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [binary, f"--config.file={conf}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{port}"],
                stdout=out, stderr=subprocess.STDOUT)
        procs.append(proc)
        prom = Prometheus(port)

        def ready() -> bool:
            with urllib.request.urlopen(prom.base + "/-/ready", timeout=1) as r:
                return r.status == 200

        poll(ready, 60, "prometheus ready", proc, log)
        prom.proc, prom.log = proc, log
        return prom

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def make_traffic(port: int) -> int:
    """Bounded traffic touching every data path: inserts, hits, misses,
    exact-text hits, a delete, an invalidation, a compaction, bad requests."""
    rng = random.Random(11)
    api = Api(port)
    vecs = []
    for i in range(40):
        v = rand_vec(rng, 16)
        vecs.append(v)
        ns = {"cache_scope": "tenant-a"} if i % 2 else {}
        status, body = api.insert(v, response=f"r{i}", query_text=f"question {i}", model_id="mon::16", **ns)
        assert status == 200, body
    for i, v in enumerate(vecs):
        ns = {"cache_scope": "tenant-a"} if i % 2 else {}
        assert api.query(v, model_id="mon::16", **ns)[0] == 200
        assert api.query(rand_vec(rng, 16), model_id="mon::16", threshold=0.999, **ns)[0] == 200
    assert api.query(rand_vec(rng, 16), model_id="mon::16", query_text="Question  0")[1]["exact_match"]
    status, body = api.insert(rand_vec(rng, 16), uuid="to-delete", model_id="mon::16")
    assert status == 200, body
    assert api.call("DELETE", "/entry/to-delete")[0] == 200
    assert api.call("POST", "/admin/invalidate", {"embedding": vecs[0], "threshold": 0.999,
                                                   "model_id": "mon::16"})[0] == 200
    assert api.call("POST", "/admin/compact")[0] == 200
    assert api.call("POST", "/query", {"model_id": "mon::16"})[0] == 422
    return 41  # inserts


def evaluate_dashboard(prom: Prometheus, exported: set, skip_cluster_only: bool):
    """Runs every dashboard query; returns (failures, skipped, checked)."""
    failures, skipped, checked = [], [], 0
    for t in dashboard_targets():
        expr = expand(t["expr"])
        missing = cluster_only(expr)
        if missing and skip_cluster_only:
            skipped.append(f"{t['panel']} [{t['ref']}]: needs {', '.join(missing)}")
            continue
        unknown = {base_metric(m) for m in METRIC_NAME.findall(expr)} - exported
        if unknown:
            failures.append(f"{t['panel']} [{t['ref']}]: metrics the node does not export: {sorted(unknown)}")
            continue
        res = prom.query(expr)
        checked += 1
        if res.get("status") != "success":
            failures.append(f"{t['panel']} [{t['ref']}]: error {res.get('errorType')}: {res.get('error')}")
            continue
        series = res["data"]["result"]
        values = [float(s["value"][1]) for s in series]
        if not series or all(math.isnan(v) for v in values):
            failures.append(f"{t['panel']} [{t['ref']}]: no data for {expr}")
    return failures, skipped, checked


def test_every_dashboard_query_returns_data_from_a_cluster(tmp_path, prometheus_on):
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent / "cluster"))
    from cluster_harness import Cluster

    c = Cluster(tmp_path / "cluster", 2, None, None)
    for i in (1, 2, 3):
        c.add(f"n{i}")
    try:
        c.start()
        c.wait_formed(timeout=30)
        ports = [c[i].port for i in ("n1", "n2", "n3")]
        prom = prometheus_on(*ports)
        poll(lambda: prom.scalar('count(up{job="ferrocache"} == 1)') == 3, 30, "the first scrape of every node",
             prom.proc, prom.log)
        inserts = make_traffic(ports[0])
        poll(lambda: prom.scalar('sum(max_over_time(ferrocache_inserts_total{job="ferrocache"}[1m]))') >= inserts
             and prom.scalar('min(count_over_time(ferrocache_inserts_total{job="ferrocache"}[1m]))') >= 3,
             60, "scrapes that saw the traffic", prom.proc, prom.log)
        _, _, payload = request(ports[0], "GET", "/metrics")
        exported = {base_metric(m) for m in METRIC_NAME.findall(payload.decode())}
        for name in CLUSTER_ONLY_METRICS:
            assert name in exported, f"a clustered node does not export {name}"
        failures, skipped, checked = evaluate_dashboard(prom, exported, skip_cluster_only=False)
        assert not failures, "\n".join(failures)
        assert not skipped and checked >= 30, (checked, skipped)
        print(f"{checked} dashboard queries returned data from a 3-node cluster, cluster panels included")
    finally:
        c.stop_all()


def test_every_dashboard_query_returns_data(node, prometheus_on):
    prom = prometheus_on(node.port)
    poll(lambda: prom.scalar('up{job="ferrocache"}') == 1, 30, "the first scrape of the node", prom.proc, prom.log)

    inserts = make_traffic(node.port)
    # A scrape after the traffic, and at least two samples of it in the rate
    # window: rate() then sees the increase.
    poll(lambda: prom.scalar('max_over_time(ferrocache_inserts_total{job="ferrocache"}[1m])') >= inserts
         and prom.scalar('count_over_time(ferrocache_inserts_total{job="ferrocache"}[1m])') >= 3,
         60, "scrapes that saw the traffic", prom.proc, prom.log)

    _, _, payload = request(node.port, "GET", "/metrics")
    exported = {base_metric(m) for m in METRIC_NAME.findall(payload.decode())}
    for name in CLUSTER_ONLY_METRICS:
        assert name not in exported, (f"{name} is exported now: remove it from CLUSTER_ONLY_METRICS so its "
                                      "panels are checked")

    failures, skipped, checked = evaluate_dashboard(prom, exported, skip_cluster_only=True)
    assert not failures, "\n".join(failures)
    # Exactly the cluster panels are skipped, nothing else.
    assert checked >= 25, checked
    assert all(any(m in s for m in CLUSTER_ONLY_METRICS) for s in skipped)
    print(f"{checked} dashboard queries returned data; skipped (cluster only): {skipped}")

    # The alert rules loaded and evaluate without errors against real data.
    rules = prom.get("/api/v1/rules")["data"]["groups"]
    states = [(r["name"], r.get("health")) for g in rules for r in g["rules"]]
    assert len(states) == 8, states

    def rules_evaluated() -> bool:
        groups = prom.get("/api/v1/rules")["data"]["groups"]
        return all(r.get("health") == "ok" for g in groups for r in g["rules"])

    poll(rules_evaluated, 30, f"every alert rule evaluated without error: {states}", prom.proc, prom.log)
