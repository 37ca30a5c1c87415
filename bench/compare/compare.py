#!/usr/bin/env python3
"""FerroCache against GPTCache and Redis on the same data, machine and run.

    compare.py --build-dir BUILD_DIR --out OUT_JSON [--entries 100000] [--queries 5000]

- Data: the seeded synthetic set of bench/synthetic_data.hpp (100 gaussian
  clusters, 384 dimensions, 256-byte responses), the one ferrocache-loadgen
  generates; bench/compare/dump_synthetic.cpp writes it to files for the
  Python side, so all three systems store and look up the same vectors.
- FerroCache: a real server on a free loopback port with its data in a
  temporary directory, driven by ferrocache-loadgen (C++, keep-alive HTTP)
  and by the public Python client (ferrocache.FerrocacheClient).
- GPTCache: in-process (sqlite + faiss), in its own process
  (bench/compare/gptcache_bench.py), same vectors, same cosine threshold.
- Redis: redis-server from Debian on a free loopback port, no persistence;
  SET/GET of the same 256-byte response payload (an exact-match cache, the
  floor for any networked cache), driven by redis-benchmark (C) and by
  redis-py.

Every server is started here and stopped at the end, also on failure (and
killed by the kernel if this process dies: PR_SET_PDEATHSIG). Every loop is
bounded in count and time. Render with bench/compare/render.py OUT_JSON.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DIM = 384
RESPONSE_BYTES = 256
SEED = 42
THRESHOLD = 0.92


def log(msg: str) -> None:
    load = open("/proc/loadavg").read().split()[0]
    print(f"[compare {time.strftime('%H:%M:%S')} load {load}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes

_children: list = []
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: the server goes when we go


def start(cmd, log_path: Path, env=None, cwd=None) -> subprocess.Popen:
    f = open(log_path, "wb")
    p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd, preexec_fn=_die_with_parent)
    f.close()
    _children.append(p)
    return p


def stop(p: subprocess.Popen, deadline_s: float = 30) -> int:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(deadline_s)
        except subprocess.TimeoutExpired:
            log(f"pid {p.pid} still running {deadline_s} s after SIGTERM: killing it")
            p.kill()
            p.wait()
    if p in _children:
        _children.remove(p)
    return p.returncode


def stop_all() -> None:
    for p in list(_children):
        if p.poll() is None:
            p.kill()
            p.wait()
        _children.remove(p)


def _on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def summary_us(ns) -> dict:
    """Nearest-rank percentiles (as ferrocache-loadgen computes them), microseconds."""
    if len(ns) == 0:
        return {"n": 0}
    a = np.asarray(ns, dtype=np.float64) / 1000.0
    pct = {p: float(np.percentile(a, p, method="inverted_cdf")) for p in (50, 95, 99)}
    return {"n": int(a.size), "p50_us": pct[50], "p95_us": pct[95], "p99_us": pct[99],
            "mean_us": float(a.mean()), "max_us": float(a.max())}


# --------------------------------------------------------------------------- data

def dump_data(work: Path, entries: int, queries: int) -> Path:
    exe = work / "dump_synthetic"
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or "c++"
    subprocess.run([cxx, "-O2", "-std=c++17", "-pthread", "-I", str(REPO / "bench"),
                    str(HERE / "dump_synthetic.cpp"), "-o", str(exe)], check=True, timeout=300)
    data = work / "data"
    data.mkdir()
    subprocess.run([str(exe), str(data), str(DIM), str(entries), str(queries), str(SEED), str(RESPONSE_BYTES)],
                   check=True, timeout=300)
    (data / "meta.json").write_text(json.dumps({"dim": DIM, "entries": entries, "queries": queries, "seed": SEED,
                                                "response_bytes": RESPONSE_BYTES}))
    return data


class Data:
    def __init__(self, path: Path, entries: int):
        self.entries = np.fromfile(path / "entries.f32", dtype=np.float32).reshape(-1, DIM)
        self.hit = np.fromfile(path / "hit.f32", dtype=np.float32).reshape(-1, DIM)
        self.target = np.fromfile(path / "hit_target.u32", dtype=np.uint32)
        self.miss = np.fromfile(path / "miss.f32", dtype=np.float32).reshape(-1, DIM)
        self.uuids, self.texts, self.responses = [], [], []
        with open(path / "entries.tsv", encoding="utf-8") as f:
            for line in f:
                u, q, r = line.rstrip("\n").split("\t")
                self.uuids.append(u)
                self.texts.append(q)
                self.responses.append(r)
        assert len(self.uuids) == entries == self.entries.shape[0]


# --------------------------------------------------------------------------- FerroCache

def loadgen(build: Path, mode: str, port: int, entries: int, extra: list, timeout_s: float) -> dict:
    cmd = [str(build / "ferrocache-loadgen"), mode, "--port", str(port), "--dim", str(DIM), "--entries", str(entries),
           "--seed", str(SEED), "--response-bytes", str(RESPONSE_BYTES), "--max-seconds", str(int(timeout_s))] + extra
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s + 120)
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip().startswith("{")]
    if r.returncode not in (0, 3) or not lines:
        raise RuntimeError(f"loadgen {mode} failed ({r.returncode}): {r.stderr[-2000:]}")
    out = lines[-1]
    if r.returncode == 3:
        out["problem"] = r.stderr[-1000:]
        log(f"WARNING: loadgen {mode} reported errors or mismatches")
    return out


def wait_http_ready(port: int, proc: subprocess.Popen, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)  # polling with a deadline
    raise RuntimeError(f"no /health 200 within {deadline_s} s")


def settle_rss(pid: int, seconds: float = 2.0) -> dict:
    """RSS once background work after a fill (WAL group commits, index upkeep) has had time to finish."""
    time.sleep(seconds)
    return proc_status(pid)


def run_ferrocache(a, work: Path, data: Data) -> dict:
    build = a.build_dir
    server = build / "ferrocache"
    if not (build / "ferrocache-loadgen").exists():
        raise RuntimeError(f"{build}/ferrocache-loadgen is missing (cmake --build {build} --target ferrocache-loadgen)")
    port = free_port()
    data_dir = work / "ferrocache-data"
    data_dir.mkdir()
    env = dict(os.environ, FERROCACHE_PORT=str(port), FERROCACHE_DATA_DIR=str(data_dir),
               FERROCACHE_BIND_ADDRESS="127.0.0.1", FERROCACHE_LOG_LEVEL="warn")
    env.pop("FERROCACHE_AUTH_TOKEN", None)
    proc = start([str(server)], work / "ferrocache.log", env=env, cwd=str(work))
    out: dict = {"system": "ferrocache", "port": port}
    try:
        wait_http_ready(port, proc)
        n, q = a.entries, a.queries
        out["rss_before_kib"] = settle_rss(proc.pid, 0.5)
        log(f"ferrocache: fill {n} entries with ferrocache-loadgen, 50 connections")
        out["fill_c50"] = loadgen(build, "fill", port, n, ["--concurrency", "50", "--model-id", "cmp::384",
                                                            "--server-pid", str(proc.pid)], a.max_seconds)
        out["rss_after_fill_kib"] = settle_rss(proc.pid)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as r:
                stats = json.loads(r.read())
            out["hnsw"] = stats.get("hnsw")
            out["entry_count_after_fill"] = stats.get("entry_count")
        except (OSError, ValueError) as exc:
            out["stats_error"] = repr(exc)
        out["disk_bytes_after_fill"] = dir_bytes(data_dir)
        common = ["--concurrency", "1", "--model-id", "cmp::384", "--requests", str(q), "--warmup",
                  str(a.warmup), "--threshold", str(THRESHOLD), "--server-pid", str(proc.pid)]
        log(f"ferrocache: {q} hit and {q} miss queries with ferrocache-loadgen, 1 connection")
        out["hit_c1"] = loadgen(build, "query-hit", port, n, common, a.max_seconds)
        out["miss_c1"] = loadgen(build, "query-miss", port, n, common, a.max_seconds)
        m = min(a.inserts, n)
        log(f"ferrocache: {m} inserts with ferrocache-loadgen, 1 connection")
        out["insert_c1"] = loadgen(build, "fill", port, n, ["--concurrency", "1", "--count", str(m), "--model-id",
                                                            "cmp-c1::384", "--server-pid", str(proc.pid)],
                                   a.max_seconds)
        out["python"] = ferrocache_python(a, port, data)
        out["rss_end_kib"] = proc_status(proc.pid)
    finally:
        out["exit_code"] = stop(proc)
    return out


def ferrocache_python(a, port: int, data: Data) -> dict:
    sys.path.insert(0, str(REPO / "clients" / "python" / "src"))  # the checkout's client when not installed
    import ferrocache
    from ferrocache import FerrocacheClient

    q, w, deadline = a.py_queries, a.warmup_py, time.monotonic() + a.max_seconds
    out = {"client_version": getattr(ferrocache, "__version__", "?"), "client_file": ferrocache.__file__}
    hit_bodies = [data.hit[j].tolist() for j in range(w + q)]
    miss_bodies = [data.miss[j].tolist() for j in range(w + q)]
    with FerrocacheClient(f"http://127.0.0.1:{port}", timeout=30, max_retries=0) as c:
        log(f"ferrocache: {q} hit and {q} miss queries through the Python client")
        for name, bodies in (("hit", hit_bodies), ("miss", miss_bodies)):
            lat, wrong = [], 0
            for j, emb in enumerate(bodies):
                s = time.perf_counter_ns()
                r = c.query(emb, threshold=THRESHOLD, model_id="cmp::384")
                e = time.perf_counter_ns() - s
                if name == "hit":
                    ok = r.get("hit") is True and r.get("id") == data.uuids[int(data.target[j])]
                else:
                    ok = r.get("hit") is False
                if j >= w:
                    lat.append(e)
                    wrong += not ok
                if time.monotonic() > deadline:
                    break
            out[name] = {**summary_us(lat), "wrong": wrong}
        m = min(a.inserts, len(data.uuids))
        log(f"ferrocache: {m} inserts through the Python client")
        bodies = [data.entries[i].tolist() for i in range(m)]
        lat = []
        t0 = time.perf_counter()
        for i in range(m):
            s = time.perf_counter_ns()
            c.insert(bodies[i], data.responses[i], data.texts[i], model_id="cmp-py::384", uuid=data.uuids[i])
            lat.append(time.perf_counter_ns() - s)
            if time.monotonic() > deadline:
                break
        wall = time.perf_counter() - t0
        out["insert"] = {**summary_us(lat), "wall_s": wall, "per_s": len(lat) / wall if wall else None}
    return out


# --------------------------------------------------------------------------- Redis

def redis_benchmark(port: int, args: list, timeout_s: float) -> dict:
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "--csv"] + args
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    rows = [x for x in r.stdout.splitlines() if x.strip()]
    if r.returncode != 0 or len(rows) < 2:
        raise RuntimeError(f"redis-benchmark failed ({r.returncode}): {r.stderr[-1000:]}")
    head = [h.strip('"') for h in rows[0].split('","')]
    vals = [v.strip('"') for v in rows[-1].split('","')]
    row = dict(zip(head, vals))
    return {"test": row["test"], "rps": float(row["rps"]), "p50_us": float(row["p50_latency_ms"]) * 1000,
            "p95_us": float(row["p95_latency_ms"]) * 1000, "p99_us": float(row["p99_latency_ms"]) * 1000,
            "mean_us": float(row["avg_latency_ms"]) * 1000, "max_us": float(row["max_latency_ms"]) * 1000,
            "args": " ".join(args[:8])}


def run_redis(a, work: Path, data: Data) -> dict:
    import redis

    exe = shutil.which("redis-server")
    if not exe or not shutil.which("redis-benchmark"):
        raise RuntimeError("redis-server / redis-benchmark not installed (apt-get install redis-server)")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    port = free_port()
    rdir = work / "redis"
    rdir.mkdir()
    proc = start([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                  "--dir", str(rdir), "--daemonize", "no", "--protected-mode", "yes"], work / "redis.log")
    out: dict = {"system": "redis", "version": version, "port": port, "persistence": "none (--save '' --appendonly no)"}
    try:
        r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30)
        end = time.monotonic() + 30
        while True:
            try:
                r.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > end or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        n, q, w = a.entries, a.py_queries, a.warmup_py
        key = "key:{:012d}".format  # redis-benchmark's __rand_int__ format, so it can GET these keys
        payload = [s.encode() for s in data.responses]
        out["used_memory_before"] = int(r.info("memory")["used_memory"])
        out["rss_before_kib"] = proc_status(proc.pid)
        log(f"redis: fill {n} keys (pipelined SET)")
        t0 = time.perf_counter()
        pipe = r.pipeline(transaction=False)
        for i in range(n):
            pipe.set(key(i), payload[i])
            if i % 1000 == 999 or i == n - 1:
                pipe.execute()
        out["fill_pipelined"] = {"count": n, "wall_s": time.perf_counter() - t0}
        out["fill_pipelined"]["per_s"] = n / out["fill_pipelined"]["wall_s"]
        out["used_memory_after_fill"] = int(r.info("memory")["used_memory"])
        out["rss_after_fill_kib"] = proc_status(proc.pid)
        out["dbsize"] = int(r.dbsize())

        log(f"redis: {q} GET hits, {q} GET misses, {a.inserts} SETs through redis-py")
        py = {"redis_py_version": redis.__version__}
        for name in ("hit", "miss"):
            lat, wrong = [], 0
            for j in range(w + q):
                k = key(int(data.target[j])) if name == "hit" else f"miss:{j:012d}"
                s = time.perf_counter_ns()
                v = r.get(k)
                e = time.perf_counter_ns() - s
                if j >= w:
                    lat.append(e)
                    wrong += (v != payload[int(data.target[j])]) if name == "hit" else (v is not None)
            py[name] = {**summary_us(lat), "wrong": int(wrong)}
        m = a.inserts
        lat = []
        t0 = time.perf_counter()
        for i in range(m):
            s = time.perf_counter_ns()
            r.set(f"ins:{i:012d}", payload[i % n])
            lat.append(time.perf_counter_ns() - s)
        wall = time.perf_counter() - t0
        py["insert"] = {**summary_us(lat), "wall_s": wall, "per_s": m / wall}
        out["python"] = py

        log("redis: redis-benchmark GET hit / GET miss / SET")
        nb = str(max(a.queries, 1000))
        val = data.responses[0]
        bm = {}
        bm["hit_c1"] = redis_benchmark(port, ["-n", nb, "-c", "1", "-r", str(n), "GET", "key:__rand_int__"], a.max_seconds)
        bm["miss_c1"] = redis_benchmark(port, ["-n", nb, "-c", "1", "-r", str(n), "GET", "miss:__rand_int__"], a.max_seconds)
        bm["set_c1"] = redis_benchmark(port, ["-n", str(a.inserts), "-c", "1", "-r", "1000000", "SET",
                                              "bm:__rand_int__", val], a.max_seconds)
        bm["set_c50"] = redis_benchmark(port, ["-n", str(max(a.inserts * 10, 10000)), "-c", "50", "-r", "1000000",
                                               "SET", "bm:__rand_int__", val], a.max_seconds)
        out["redis_benchmark"] = bm
        r.close()
    finally:
        out["exit_code"] = stop(proc)
    return out


# --------------------------------------------------------------------------- GPTCache

def run_gptcache(a, work: Path, data_path: Path) -> dict:
    cmd = [sys.executable, str(HERE / "gptcache_bench.py"), str(data_path), str(work / "gptcache"),
           "--entries", str(a.entries), "--queries", str(a.gpt_queries), "--puts", str(a.inserts),
           "--threshold", str(THRESHOLD), "--max-seconds", str(a.max_seconds)]
    log(f"gptcache: {a.inserts} puts, fill to {a.entries}, {a.gpt_queries} hit and miss gets (own process)")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.max_seconds * 2 + 120, env=env,
                       preexec_fn=_die_with_parent)
    lines = [x for x in r.stdout.splitlines() if x.strip().startswith("{")]
    if r.returncode != 0 or not lines:
        raise RuntimeError(f"gptcache_bench exited {r.returncode}: {(r.stderr or r.stdout)[-3000:]}")
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- main

def machine() -> dict:
    cpu = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(next(x for x in open("/proc/meminfo") if x.startswith("MemTotal")).split()[1])
    return {"cpu_model": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_kib / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version()}


def compilers_running() -> int:
    n = 0
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if (p / "comm").read_text().strip() in ("cc1plus", "cc1", "ld", "rustc"):
                    n += 1
            except OSError:
                pass
    return n


def main() -> int:
    small = os.environ.get("BENCH_SMALL") == "1"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--entries", type=int, default=5000 if small else 100000, help="entries per system")
    ap.add_argument("--queries", type=int, default=500 if small else 5000, help="loadgen / redis-benchmark queries")
    ap.add_argument("--py-queries", type=int, default=300 if small else 2000, help="Python client queries")
    ap.add_argument("--gpt-queries", type=int, default=200 if small else 500, help="GPTCache gets of each kind")
    ap.add_argument("--inserts", type=int, default=300 if small else 2000, help="one-by-one inserts measured")
    ap.add_argument("--warmup", type=int, default=200 if small else 1000)
    ap.add_argument("--warmup-py", type=int, default=50 if small else 200)
    ap.add_argument("--max-seconds", type=float, default=300, help="time limit of each measured step")
    ap.add_argument("--systems", default="ferrocache,redis,gptcache")
    ap.add_argument("--budget-seconds", type=float, default=0,
                    help="stop starting systems once this much time has passed (0: no limit)")
    a = ap.parse_args()
    a.build_dir = a.build_dir.resolve()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    t_start = time.time()
    result = {"meta": {**machine(), "started_unix": int(t_start), "loadavg_start": open("/proc/loadavg").read().split()[:3],
                       "compilers_running_at_start": compilers_running(), "command": " ".join(sys.argv),
                       "small": small},
              "settings": {"entries": a.entries, "dim": DIM, "seed": SEED, "response_bytes": RESPONSE_BYTES,
                           "threshold": THRESHOLD, "queries": a.queries, "py_queries": a.py_queries,
                           "gpt_queries": a.gpt_queries, "inserts": a.inserts, "warmup": a.warmup,
                           "warmup_py": a.warmup_py}}
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        result["meta"]["commit"] = commit or "unknown"
        server = a.build_dir / "ferrocache"
        if server.exists():
            result["meta"]["server_binary_built"] = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                  time.gmtime(server.stat().st_mtime))
    except OSError:
        pass
    work = Path(tempfile.mkdtemp(prefix="ferrocache-compare."))
    try:
        need = max(a.queries, a.py_queries + a.warmup_py, a.gpt_queries + 100) + a.warmup
        log(f"work dir {work}; dumping {a.entries} entries and {need} queries of each kind")
        data_path = dump_data(work, a.entries, need)
        data = Data(data_path, a.entries)
        systems = a.systems.split(",")
        runners = {"ferrocache": lambda: run_ferrocache(a, work, data),
                   "redis": lambda: run_redis(a, work, data),
                   "gptcache": lambda: run_gptcache(a, work, data_path)}
        # Rough shares of the budget each system needs; one that cannot fit is skipped, not cut short.
        share = {"ferrocache": 0.45, "redis": 0.05, "gptcache": 0.40}
        for name in systems:
            t0 = time.time()
            if a.budget_seconds:
                left = a.budget_seconds - (t0 - t_start)
                need = share.get(name, 0.3) * a.budget_seconds * 0.5
                if left < need:
                    log(f"{name}: SKIPPED, {left:.0f} s of the {a.budget_seconds:.0f} s budget left")
                    result[name] = {"system": name, "error": f"skipped: {left:.0f} s of the time budget left"}
                    continue
                a.max_seconds = min(a.max_seconds, max(30.0, left / 2))
            try:
                result[name] = runners[name]()
            except Exception as exc:  # one system failing must not lose the others
                log(f"{name} FAILED: {exc}")
                result[name] = {"system": name, "error": f"{type(exc).__name__}: {exc}"}
            result[name]["wall_s"] = round(time.time() - t0, 1)
    finally:
        stop_all()
        if os.environ.get("BENCH_KEEP_WORK") != "1":
            shutil.rmtree(work, ignore_errors=True)
    result["meta"]["wall_s"] = int(time.time() - t_start)
    result["meta"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    log(f"done in {result['meta']['wall_s']} s; results in {a.out}")
    return 0 if all("error" not in result.get(s, {}) for s in a.systems.split(",")) else 3


if __name__ == "__main__":
    sys.exit(main())
