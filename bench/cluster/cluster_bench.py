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

Measured per door: fill throughput at concurrency 50 (leader door; the
issue's shape), insert latency at concurrency 1, query-hit latency at
concurrency 1 (medians of --rounds rounds). Then, on the same cluster:

  catch-up   kill -9 the replica of a filled namespace: the third node is
             refilled by an image (no copy to compare); fill as much again
             and restart the old replica on its data: it catches up by the
             log. Rates from the leader's catch-up metrics (records and
             bytes over the catch-up's own duration).
  failover   a writer inserts at concurrency 1 into one namespace through
             a node that does not lead it; kill -9 (then, on a fresh
             namespace, SIGSTOP) its leader: time to the first acknowledged
             write after the signal.

  many       --namespaces small namespaces are created one by one (each
             first write is an election), then the node leading most of
             them is killed -9 and one writer per namespace it led retries
             until acknowledged: how long until each is writable again.

The cluster runs with default cluster settings (heartbeat 500 ms, phi
threshold 8, replication timeout 2 s). All processes share this machine's
cores, so absolute numbers are low; the ratios to the single node of the
same run are what the report shows. Output: one JSON object (stdout or
--out).

Environment: SERVER_BIN runs another server binary (an older build) with
this build's tools; BENCH_LOG_LEVEL [warn] is the nodes' log level;
BENCH_KEEP=1 keeps the nodes' data and logs (the path goes to stderr).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
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
        self.binary = binary
        self.logfile = root / f"{name}.log"
        self.env = dict(os.environ)
        self.env.update({"FERROCACHE_PORT": str(self.port), "FERROCACHE_DATA_DIR": str(self.data),
                         "FERROCACHE_NODE_ID": name, "FERROCACHE_BIND_ADDRESS": "127.0.0.1",
                         "FERROCACHE_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warn")})
        self.env.update(env)
        self.start()

    def start(self) -> None:
        self.log = open(self.logfile, "ab")
        self.proc = subprocess.Popen([self.binary], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def metrics(self) -> Dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out


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
        f = lg.run("fill", port, m, concurrency=50, count=count)
        fills.append(f["throughput_rps"])
        one = lg.run("fill", port, m, concurrency=1, count=min(300, count))  # upserts, as in the cluster
        inserts.append(one["p50_us"])
        q = lg.run("query-hit", port, m, concurrency=1, requests=1000, warmup=100, entries=count)
        queries.append(q["p50_us"])
    return {"fill_c50_rps": statistics.median(fills), "insert_c1_p50_us": statistics.median(inserts),
            "query_hit_c1_p50_us": statistics.median(queries)}


def catchup_delta(before: Dict[str, float], after: Dict[str, float], path: str) -> dict:
    def d(name: str) -> float:
        key = f'{name}{{path="{path}"}}'
        return after.get(key, 0) - before.get(key, 0)
    out = {"catchups": d("ferrocache_catchups_total"), "records": d("ferrocache_catchup_records_total"),
           "seconds": round(d("ferrocache_catchup_seconds_total"), 3)}
    if out["seconds"] > 0:
        out["records_per_s"] = round(out["records"] / out["seconds"])
    if path == "image":
        out["bytes"] = after.get("ferrocache_catchup_image_bytes_total", 0) - \
            before.get("ferrocache_catchup_image_bytes_total", 0)
        if out["seconds"] > 0:
            out["mb_per_s"] = round(out["bytes"] / out["seconds"] / 1e6, 2)
    return out


def ns_status(node: Node, model: str) -> dict:
    return get_json(node.port, "/cluster/status").get("namespaces", {}).get(model) or {}


def measure_catchup(lg: Loadgen, nodes: Dict[str, Node], entries: int) -> dict:
    """Image catch-up of a new replica, then log catch-up of a returning one (see the module doc)."""
    model = "bench-catchup"
    lg.run("fill", nodes["n1"].port, model, concurrency=1, count=1)
    poll("catch-up namespace replicated", lambda: doors(nodes, model) is not None, 30)
    d = doors(nodes, model)
    leader, replica, third = nodes[d["leader"]], nodes[d["replica"]], nodes[d["outsider"]]
    lg.run("fill", leader.port, model, concurrency=16, offset=0, count=entries)
    before = leader.metrics()
    replica.kill()
    poll("image catch-up of the third node",
         lambda: d["outsider"] in ns_status(leader, model).get("in_sync", []) and
         catchup_delta(before, leader.metrics(), "image")["catchups"] >= 1, 120)
    image = catchup_delta(before, leader.metrics(), "image")
    lg.run("fill", leader.port, model, concurrency=16, offset=entries, count=entries, entries=2 * entries)
    before = leader.metrics()
    replica.start()
    poll("log catch-up of the returning replica",
         lambda: d["replica"] in ns_status(leader, model).get("in_sync", []), 120)
    log = catchup_delta(before, leader.metrics(), "log")
    image_again = catchup_delta(before, leader.metrics(), "image")
    return {"image": image, "log": log, "image_during_log_phase": image_again["catchups"],
            "entries_per_phase": entries}


def writer(port: int, model: str, dim: int, stop: threading.Event, acks: List[tuple]) -> None:
    """Inserts at concurrency 1 until `stop`, appending (sent, acknowledged) times of each success."""
    rng = random.Random(7)
    conn = None
    i = 0
    while not stop.is_set():
        vec = [rng.gauss(0, 1) for _ in range(dim)]
        body = json.dumps({"model_id": model, "embedding": vec, "response": f"r{i}", "query_text": "",
                           "uuid": f"{model}-{i}"}).encode()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            sent = time.monotonic()
            conn.request("POST", "/insert", body=body, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                acks.append((sent, time.monotonic()))
                i += 1
        except (OSError, http.client.HTTPException):
            conn = None


def measure_failover(lg: Loadgen, nodes: Dict[str, Node], model: str, dim: int, how: str) -> float:
    """Seconds from kill -9 (or SIGSTOP) of `model`'s leader to the first acknowledgement of a write
    sent after it (a write in flight at the signal may have been answered before it took effect)."""
    lg.run("fill", nodes["n1"].port, model, concurrency=1, count=1)
    poll(f"{model} replicated", lambda: doors(nodes, model) is not None, 30)
    d = doors(nodes, model)
    leader = nodes[d["leader"]]
    door = nodes[d["replica"]]
    stop, acks = threading.Event(), []
    t = threading.Thread(target=writer, args=(door.port, model, dim, stop, acks), daemon=True)
    t.start()
    try:
        poll("writer running", lambda: len(acks) >= 20, 30)
        t0 = time.monotonic()
        if how == "kill":
            leader.kill()
        else:
            leader.proc.send_signal(signal.SIGSTOP)
        poll(f"a write acknowledged after {how}", lambda: any(sent > t0 for sent, _ in acks), 60)
        first = min(acked for sent, acked in acks if sent > t0)
    finally:
        stop.set()
        t.join(30)
    if how == "kill":
        leader.start()
    else:
        leader.proc.send_signal(signal.SIGCONT)
    return round(first - t0, 3)


def insert_small(port: int, model: str, rng: random.Random) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = json.dumps({"model_id": model, "embedding": [rng.random() for _ in range(16)], "response": "r",
                           "query_text": ""})
        conn.request("POST", "/insert", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


RETRY_INTERVAL_S = 0.05  # measure_many's writers wait this long after a refused write


IDLE_WINDOW_S = 10.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu_percent(nodes: Dict[str, "Node"], window_s: float) -> Dict[str, float]:
    """Each node's CPU use while no client sends anything: what holding the
    namespaces costs (heartbeats, ticks, the status board)."""
    before = {n: cpu_seconds(node.proc.pid) for n, node in nodes.items()}
    t = time.monotonic()
    time.sleep(window_s)  # the measurement window itself, not a wait for a condition
    elapsed = time.monotonic() - t
    return {n: round(100 * (cpu_seconds(node.proc.pid) - before[n]) / elapsed, 1) for n, node in nodes.items()}


def measure_many(nodes: Dict[str, Node], count: int) -> dict:
    """Creation of `count` namespaces at concurrency 1, then failover of those the killed node led."""
    rng = random.Random(11)
    names = [f"bench-many-{i}" for i in range(count)]
    t = time.monotonic()
    for m in names:
        status = insert_small(nodes["n1"].port, m, rng)
        if status != 200:
            raise RuntimeError(f"creating {m}: HTTP {status}")
    created_s = time.monotonic() - t
    idle = idle_cpu_percent(nodes, IDLE_WINDOW_S)
    led = {n: [k for k, v in get_json(node.port, "/cluster/status")["namespaces"].items()
               if k.startswith("bench-many-") and v["role"] == "primary"] for n, node in nodes.items()}
    victim = max(led, key=lambda n: len(led[n]))
    doors_left = [n for n in nodes if n != victim]
    writable: Dict[str, float] = {}
    lock = threading.Lock()
    t0 = time.monotonic()
    nodes[victim].kill()

    def retry(m: str, port: int) -> None:
        r = random.Random(m)
        while time.monotonic() - t0 < 60:
            try:
                if insert_small(port, m, r) == 200:
                    with lock:
                        writable[m] = time.monotonic() - t0
                    return
            except (OSError, http.client.HTTPException):
                pass
            # A client's retry interval: without one, hundreds of writers
            # retrying at once keep both survivors busy refusing them.
            time.sleep(RETRY_INTERVAL_S)

    threads = [threading.Thread(target=retry, args=(m, nodes[doors_left[i % 2]].port))
               for i, m in enumerate(led[victim])]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    nodes[victim].start()
    v = sorted(writable.values())
    return {"namespaces": count, "created_c1_s": round(created_s, 2),
            "create_ms_each": round(created_s * 1000 / count, 1),
            "idle_cpu_percent": idle, "led_by_killed_node": len(led[victim]),
            "writable_again": len(v), "first_s": round(v[0], 3) if v else None,
            "median_s": round(statistics.median(v), 3) if v else None, "last_s": round(v[-1], 3) if v else None}


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
    ap.add_argument("--namespaces", type=int, default=300)
    ap.add_argument("--only-many", action="store_true",
                    help="measure only the many-namespaces failover (e.g. --namespaces 3000)")
    ap.add_argument("--out")
    a = ap.parse_args()
    build = Path(a.build).resolve()
    # SERVER_BIN times another build (an older commit) with the same tools.
    binary = os.environ.get("SERVER_BIN") or str(build / "ferrocache")
    lg = Loadgen(build, a.dim, a.entries)
    root = Path(tempfile.mkdtemp(prefix="ferro-cluster-bench-"))
    started = time.time()
    result: dict = {"tool": "cluster_bench", "entries": a.entries, "rounds": a.rounds, "dim": a.dim,
                    "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    nodes: Dict[str, Node] = {}
    try:
        if not a.only_many:
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
                "FERROCACHE_CLUSTER__REPLICATION_FACTOR": "2"})

        def formed() -> bool:
            for n in nodes.values():
                s = get_json(n.port, "/cluster/status")
                if len([p for p in s["peer_health"].values() if p["status"] == "alive"]) != 2 or \
                        not s.get("read_lease"):
                    return False
            return True
        poll("cluster formed", formed)
        if a.only_many:
            result["many_namespaces"] = measure_many(nodes, a.namespaces)
            return finish(result, a, started)
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
                f = lg.run("fill", port, model, concurrency=50, offset=0, count=a.entries) if door == "leader" \
                    else None
                ins = lg.run("fill", port, model, concurrency=1, offset=0, count=min(300, a.entries))
                q = lg.run("query-hit", port, model, concurrency=1, requests=1000, warmup=100)
                per_door[door].append({"fill_c50_rps": f["throughput_rps"] if f else None,
                                       "insert_c1_p50_us": ins["p50_us"], "query_hit_c1_p50_us": q["p50_us"],
                                       "node": name, "namespace_label": m})
        cluster: Dict[str, dict] = {}
        for door, rows in per_door.items():
            cluster[door] = {k: statistics.median([r[k] for r in rows if r[k] is not None])
                             for k in ("insert_c1_p50_us", "query_hit_c1_p50_us")}
            fills = [r["fill_c50_rps"] for r in rows if r["fill_c50_rps"] is not None]
            if fills:
                cluster[door]["fill_c50_rps"] = statistics.median(fills)
        result["cluster"] = cluster
        s = result["single"]
        result["ratios"] = {door: {"insert_c1_p50": round(c["insert_c1_p50_us"] / s["insert_c1_p50_us"], 2),
                                   "query_hit_c1_p50": round(c["query_hit_c1_p50_us"] / s["query_hit_c1_p50_us"], 2)}
                            for door, c in cluster.items()}
        result["ratios"]["leader"]["fill_c50_throughput"] = round(
            cluster["leader"]["fill_c50_rps"] / s["fill_c50_rps"], 2)
        result["catchup"] = measure_catchup(lg, nodes, a.entries)
        poll("cluster formed again", formed, 60)
        result["failover_s"] = {"kill": [], "sigstop": []}
        for r in range(a.rounds):
            for how in ("kill", "sigstop"):
                result["failover_s"][how].append(
                    measure_failover(lg, nodes, f"bench-failover-{how}-r{r}", a.dim, how))
                poll("cluster formed again", formed, 60)
        result["failover_median_s"] = {k: statistics.median(v) for k, v in result["failover_s"].items()}
        result["many_namespaces"] = measure_many(nodes, a.namespaces)
    finally:
        for n in nodes.values():
            n.stop()
        if os.environ.get("BENCH_KEEP"):
            print(f"cluster_bench: kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return finish(result, a, started)


def finish(result: dict, a: argparse.Namespace, started: float) -> int:
    result["wall_s"] = round(time.time() - started, 1)
    text = json.dumps(result, indent=2)
    if a.out:
        Path(a.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
