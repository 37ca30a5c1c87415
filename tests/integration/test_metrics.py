"""/metrics is valid Prometheus text and counts what happened."""
from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from ferro_node import request
from helpers import Api, rand_vec


def metric_value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{") and line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    raise KeyError(name)


def test_metrics_pass_promtool_and_reflect_traffic(node):
    rng = random.Random(7)
    api = Api(node.port)
    v = rand_vec(rng, 16)
    api.insert(v, cache_scope='we"ird\\scope')
    api.query(v, cache_scope='we"ird\\scope')
    api.query(rand_vec(rng, 16), threshold=0.999)
    status, headers, payload = request(node.port, "GET", "/metrics")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = payload.decode()
    for needed in ["ferrocache_queries_total", "ferrocache_inserts_total", "ferrocache_evictions_total",
                   "ferrocache_expirations_total", "ferrocache_deletions_total", "ferrocache_invalidations_total",
                   "ferrocache_exact_match_hits_total", "ferrocache_compactions_total", "ferrocache_feedback_total",
                   "ferrocache_quality_check_refusals_total", "ferrocache_error_bound_hits_total",
                   "ferrocache_entries", "ferrocache_namespace_entries",
                   "ferrocache_query_duration_seconds_bucket", "ferrocache_insert_duration_seconds_bucket"]:
        assert needed in text, needed
    assert 'ferrocache_queries_total{result="hit"} 1' in text
    assert 'ferrocache_queries_total{result="miss"} 1' in text
    assert 'namespace="m::we\\"ird\\\\scope"' in text
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (deploy/install-deps.sh installs it)")
    check = subprocess.run([promtool, "check", "metrics"], input=payload, capture_output=True)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
