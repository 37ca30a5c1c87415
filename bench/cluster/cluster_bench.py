#!/usr/bin/env python3
"""What the cluster costs a request, against a single node in the same run.

    python3 bench/cluster/cluster_bench.py BUILD_DIR [--entries 3000] [--rounds 3] [--out FILE]

Starts one single node and one 3-node cluster (replication factor 2) of the
real binary on loopback, each with its data in a temp folder, and drives them
with bench's ferrocache-loadgen (every response checked). In the cluster the
same requests go in through three doors:

  leader     the node that leads the namespace: the write is logged, shipped
             to the in-sync replica and acknowledged when both are durable;
  replica    the node holding the in-sync replica: a write is forwarded to
             the leader (one more hop); a query is answered locally;
  outsider   the node holding no copy: writes and queries are forwarded.

Measured per door: fill throughput at concurrency 16, insert latency at
concurrency 1, query-hit latency at concurrency 1 (medians of --rounds rounds,
each on a fresh namespace for inserts). All processes share this machine's
cores, so absolute numbers are low; the ratios to the single node of the same
run are what the report shows. Output: one JSON object (stdout or --out).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Dict, List


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.loads(r.read())


class Node:
    def __init__(self, binary: str, root: Path, name: str, env: Dict[str, str]):
        self.port = free_port()
        self.data = root / name
        self.log = open(root / f"{name}.log", "wb")
        e = dict(os.environ)
        e.update({"FERROCACHE_PORT": str(self.port), "FERROCACHE_DATA_DIR": str(self.data),
                  "FERROCACHE_NODE_ID": name, "FERROCACHE_BIND_ADDRESS": "127.0.0.1",
                  "FERROCACHE_LOG_LEVEL": "warn"})
        e.update(env)
        self.proc = subprocess.Popen([binary], env=e, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def poll(what: str, check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)  # poll interval of a deadline loop
    raise TimeoutError(what)


class Loadgen:
    def __init__(self, build: Path, dim: int, entries: int):
        self.bin = str(build / "ferrocache-loadgen")
        self.dim = dim
        self.entries = entries

    def run(self, mode: str, port: int, model: str, **opts) -> dict:
        args = [self.bin, mode, "--port", str(port), "--dim", str(self.dim), "--entries", str(self.entries),
                "--model-id", model]
        for k, v in opts.items():
            args += [f"--{k.replace('_', '-')}", str(v)]
        out = subprocess.run(args, capture_output=True, text=True, timeout=300)
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode != 0 or not lines:
            raise RuntimeError(f"loadgen {mode} failed ({out.returncode}): {out.stderr[-500:]}")
        return json.loads(lines[-1])


def measure(lg: Loadgen, port: int, model: str, rounds: int, count: int) -> dict:
    """Fill `count` entries at c=16, then insert latency (c=1) and query-hit latency (c=1)."""
    fills, inserts, queries = [], [], []
    for r in range(rounds):
        m = f"{model}-r{r}"
        f = lg.run("fill", port, m, concurrency=16, count=count)
        fills.append(f["throughput_rps"])
        one = lg.run("fill", port, m, concurrency=1, count=min(300, count))  # upserts, as in the cluster
        inserts.append(one["p50_us"])
        q = lg.run("query-hit", port, m, concurrency=1, requests=1000, warmup=100, entries=count)
        queries.append(q["p50_us"])
    return {"fill_c16_rps": statistics.median(fills), "insert_c1_p50_us": statistics.median(inserts),
            "query_hit_c1_p50_us": statistics.median(queries)}


def doors(nodes: Dict[str, Node], model: str):
    """Which node leads `model`'s namespace, which holds its replica, which neither (None: not yet)."""
    for name, n in nodes.items():
        st = get_json(n.port, "/cluster/status").get("namespaces", {}).get(model)
        if st and st.get("role") == "primary" and st.get("in_sync"):
            replica = st["in_sync"][0]
            outsider = [k for k in nodes if k not in (name, replica)][0]
            return {"leader": name, "replica": replica, "outsider": outsider}
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--entries", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--out")
    a = ap.parse_args()
    build = Path(a.build).resolve()
    binary = str(build / "ferrocache")
    lg = Loadgen(build, a.dim, a.entries)
    root = Path(tempfile.mkdtemp(prefix="ferro-cluster-bench-"))
    started = time.time()
    result: dict = {"tool": "cluster_bench", "entries": a.entries, "rounds": a.rounds, "dim": a.dim,
                    "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    nodes: Dict[str, Node] = {}
    try:
        single = Node(binary, root, "single", {})
        poll("single node ready", lambda: get_json(single.port, "/health") is not None)
        result["single"] = measure(lg, single.port, "bench-single", a.rounds, a.entries)
        single.stop()

        peer_ports = {f"n{i}": free_port() for i in (1, 2, 3)}
        seeds = ",".join(f"127.0.0.1:{p}" for p in peer_ports.values())
        for name, pp in peer_ports.items():
            nodes[name] = Node(binary, root, name, {
                "FERROCACHE_CLUSTER__ENABLED": "true", "FERROCACHE_CLUSTER__PORT": str(pp),
                "FERROCACHE_CLUSTER__ADVERTISE_HOST": "127.0.0.1", "FERROCACHE_CLUSTER__SEED_NODES": seeds,
                "FERROCACHE_CLUSTER__REPLICATION_FACTOR": "2",
                "FERROCACHE_CLUSTER__HEARTBEAT_INTERVAL_MS": "200"})

        def formed() -> bool:
            for n in nodes.values():
                s = get_json(n.port, "/cluster/status")
                if len([p for p in s["peer_health"].values() if p["status"] == "alive"]) != 2:
                    return False
            return True
        poll("cluster formed", formed)
        per_door: Dict[str, List[dict]] = {"leader": [], "replica": [], "outsider": []}
        for r in range(a.rounds):
            model = f"bench-cluster-r{r}"
            # One insert creates the namespace (an election); then find its doors.
            lg.run("fill", nodes["n1"].port, model, concurrency=1, count=1)
            poll("namespace replicated", lambda: doors(nodes, model) is not None, 20)
            d = doors(nodes, model)
            # Placement decides per namespace, so all three doors are measured
            # on this one: the leader fills it, then each door upserts and queries.
            for door in ("leader", "replica", "outsider"):
                name = d[door]
                port = nodes[name].port
                m = f"{model}-{door}"
                f = lg.run("fill", port, model, concurrency=16, offset=0, count=a.entries) if door == "leader" \
                    else None
                ins = lg.run("fill", port, model, concurrency=1, offset=0, count=min(300, a.entries))
                q = lg.run("query-hit", port, model, concurrency=1, requests=1000, warmup=100)
                per_door[door].append({"fill_c16_rps": f["throughput_rps"] if f else None,
                                       "insert_c1_p50_us": ins["p50_us"], "query_hit_c1_p50_us": q["p50_us"],
                                       "node": name, "namespace_label": m})
        cluster: Dict[str, dict] = {}
        for door, rows in per_door.items():
            cluster[door] = {k: statistics.median([r[k] for r in rows if r[k] is not None])
                             for k in ("insert_c1_p50_us", "query_hit_c1_p50_us")}
            fills = [r["fill_c16_rps"] for r in rows if r["fill_c16_rps"] is not None]
            if fills:
                cluster[door]["fill_c16_rps"] = statistics.median(fills)
        result["cluster"] = cluster
        s = result["single"]
        result["ratios"] = {door: {"insert_c1_p50": round(c["insert_c1_p50_us"] / s["insert_c1_p50_us"], 2),
                                   "query_hit_c1_p50": round(c["query_hit_c1_p50_us"] / s["query_hit_c1_p50_us"], 2)}
                            for door, c in cluster.items()}
        result["ratios"]["leader"]["fill_c16_throughput"] = round(
            cluster["leader"]["fill_c16_rps"] / s["fill_c16_rps"], 2)
    finally:
        for n in nodes.values():
            n.stop()
        shutil.rmtree(root, ignore_errors=True)
    result["wall_s"] = round(time.time() - started, 1)
    text = json.dumps(result, indent=2)
    if a.out:
        Path(a.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
