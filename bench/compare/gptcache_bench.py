#!/usr/bin/env python3
"""GPTCache (in-process, sqlite scalar store + faiss vector store) on the
synthetic data set that bench/compare/dump_synthetic.cpp writes.

    gptcache_bench.py DATA_DIR WORK_DIR --entries N --queries Q --puts M [--threshold 0.92]

Runs in its own process so that its resident-memory growth is GPTCache's
alone. Prints one JSON object on stdout. Called by bench/compare/compare.py.

How GPTCache is set up (its documented API, defaults unless noted):
- ``get_data_manager(CacheBase("sqlite"), VectorBase("faiss", dimension))``;
  ``max_size`` raised above the entry count so that LRU eviction never runs.
- ``Cache.init(pre_embedding_func=get_prompt, embedding_func=<lookup of the
  precomputed vector>, similarity_evaluation=SearchDistanceEvaluation())``.
  faiss returns the squared L2 distance d; for unit vectors d = 2 - 2 cos.
  SearchDistanceEvaluation scores 4 - d and GPTCache hits when
  score >= 4 * similarity_threshold, so cosine >= c is
  ``similarity_threshold = (1 + c) / 2`` (0.96 for FerroCache's 0.92).
- Reads and writes go through ``gptcache.adapter.api.get`` / ``put`` (the
  whole GPTCache pipeline: pre-processing, embedding, faiss search, sqlite
  fetch, evaluation, post-processing; a hit also writes GPTCache's report
  row). The bulk of the fill uses ``data_manager.import_data`` (the batch
  form of what ``put`` stores), because ``put`` rewrites the faiss index
  file every 20 calls (``Config.auto_flush``), which would make a 100k fill
  take far longer than the benchmark's time budget.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def rss_kib() -> dict:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def summary_us(ns: list) -> dict:
    if not ns:
        return {}
    a = np.asarray(ns, dtype=np.float64) / 1000.0
    return {"n": int(a.size), "p50_us": float(np.percentile(a, 50)), "p95_us": float(np.percentile(a, 95)),
            "p99_us": float(np.percentile(a, 99)), "mean_us": float(a.mean()), "max_us": float(a.max())}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("work_dir")
    ap.add_argument("--entries", type=int, required=True)
    ap.add_argument("--queries", type=int, required=True)
    ap.add_argument("--puts", type=int, required=True, help="entries stored one by one with api.put")
    ap.add_argument("--late-puts", type=int, default=100, help="api.put calls once the cache is full")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--threshold", type=float, default=0.92, help="cosine threshold")
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--faiss-threads", type=int, default=1,
                    help="OpenMP threads of faiss for the measured runs (0: faiss's default)")
    ap.add_argument("--default-threads-queries", type=int, default=100,
                    help="extra hit queries measured with faiss's default OpenMP threads")
    a = ap.parse_args()
    deadline = time.monotonic() + a.max_seconds

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t_import = time.perf_counter()
    import faiss
    import gptcache
    from gptcache import Cache, Config
    from gptcache.adapter.api import get, put
    from gptcache.manager import CacheBase, VectorBase, get_data_manager
    from gptcache.processor.pre import get_prompt
    from gptcache.similarity_evaluation import SearchDistanceEvaluation
    import_s = time.perf_counter() - t_import

    meta = json.loads((Path(a.data_dir) / "meta.json").read_text())
    dim = meta["dim"]
    n = a.entries
    entries = np.fromfile(Path(a.data_dir) / "entries.f32", dtype=np.float32).reshape(-1, dim)[:n].copy()
    hit = np.fromfile(Path(a.data_dir) / "hit.f32", dtype=np.float32).reshape(-1, dim)
    target = np.fromfile(Path(a.data_dir) / "hit_target.u32", dtype=np.uint32)
    miss = np.fromfile(Path(a.data_dir) / "miss.f32", dtype=np.float32).reshape(-1, dim)
    uuids, texts, responses = [], [], []
    with open(Path(a.data_dir) / "entries.tsv", encoding="utf-8") as f:
        for line in f:
            u, q, r = line.rstrip("\n").split("\t")
            uuids.append(u)
            texts.append(q)
            responses.append(r)
    texts, responses = texts[:n], responses[:n]
    w = min(a.warmup, hit.shape[0] // 10)
    q = min(a.queries, hit.shape[0] - w)  # queries [0, w) warm up, [w, w + q) are measured

    # The "embedding model" is a lookup of the precomputed vector by prompt.
    vectors = {}
    for i in range(n):
        vectors[texts[i]] = entries[i]
    for j in range(hit.shape[0]):
        vectors[f"hit query {j}"] = hit[j]
        vectors[f"miss query {j}"] = miss[j]
    for k in range(a.late_puts):
        vectors[f"late put {k}"] = miss[(hit.shape[0] - 1 - k) % miss.shape[0]]

    def embed(prompt, **_):
        return vectors[prompt]

    default_threads = faiss.omp_get_max_threads()
    if a.faiss_threads > 0:
        faiss.omp_set_num_threads(a.faiss_threads)

    work = Path(a.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    data_manager = get_data_manager(CacheBase("sqlite", sql_url=f"sqlite:///{work / 'sqlite.db'}"),
                                    VectorBase("faiss", dimension=dim, index_path=str(work / "faiss.index")),
                                    max_size=n + a.puts + a.late_puts + 1000)
    cache = Cache()
    sim_threshold = (1.0 + a.threshold) / 2.0
    cache.init(pre_embedding_func=get_prompt, embedding_func=embed, data_manager=data_manager,
               similarity_evaluation=SearchDistanceEvaluation(), config=Config(similarity_threshold=sim_threshold))
    gc.collect()
    rss0 = rss_kib()

    # 1. put, one entry at a time, into an empty cache.
    puts = min(a.puts, n)
    put_ns = []
    t0 = time.perf_counter()
    for i in range(puts):
        s = time.perf_counter_ns()
        put(texts[i], responses[i], cache_obj=cache)
        put_ns.append(time.perf_counter_ns() - s)
    put_wall = time.perf_counter() - t0

    # 2. the rest in batches of 1000 with import_data.
    t0 = time.perf_counter()
    batch = 1000
    for s in range(puts, n, batch):
        e = min(n, s + batch)
        data_manager.import_data(texts[s:e], responses[s:e], [entries[i] for i in range(s, e)], [None] * (e - s))
        if time.monotonic() > deadline:
            print(json.dumps({"error": f"fill stopped at the time limit after {e} entries"}))
            return 3
    import_wall = time.perf_counter() - t0
    gc.collect()
    rss1 = rss_kib()
    count = data_manager.v.count()

    def timed_gets(prompts, expect):
        lat, wrong = [], 0
        for k, p in enumerate(prompts):
            s = time.perf_counter_ns()
            got = get(p, cache_obj=cache)
            lat.append(time.perf_counter_ns() - s)
            if got != expect[k]:
                wrong += 1
            if time.monotonic() > deadline:
                break
        return lat, wrong

    timed_gets([f"hit query {j}" for j in range(w)], [responses[target[j]] for j in range(w)])
    hit_ns, hit_wrong = timed_gets([f"hit query {j}" for j in range(w, w + q)],
                                   [responses[target[j]] for j in range(w, w + q)])
    timed_gets([f"miss query {j}" for j in range(w)], [None] * w)
    miss_ns, miss_wrong = timed_gets([f"miss query {j}" for j in range(w, w + q)], [None] * q)

    # The same hit queries again with faiss's default OpenMP thread count.
    extra = min(a.default_threads_queries, q)
    default_ns = []
    if extra and a.faiss_threads > 0 and default_threads != a.faiss_threads:
        faiss.omp_set_num_threads(default_threads)
        timed_gets([f"hit query {j}" for j in range(w)], [responses[target[j]] for j in range(w)])
        default_ns, _ = timed_gets([f"hit query {j}" for j in range(w, w + extra)],
                                   [responses[target[j]] for j in range(w, w + extra)])
        faiss.omp_set_num_threads(a.faiss_threads)

    # 3. put into the full cache: every 20th put rewrites the whole faiss index file.
    late_ns = []
    t0 = time.perf_counter()
    for k in range(a.late_puts):
        s = time.perf_counter_ns()
        put(f"late put {k}", "late answer", cache_obj=cache)
        late_ns.append(time.perf_counter_ns() - s)
    late_wall = time.perf_counter() - t0

    out = {
        "system": "gptcache",
        "gptcache_version": getattr(gptcache, "__version__", "?"),
        "faiss_version": faiss.__version__,
        "faiss_omp_threads": faiss.omp_get_max_threads(),
        "faiss_default_omp_threads": default_threads,
        "hit_default_threads": summary_us(default_ns),
        "import_s": import_s,
        "entries": n, "vector_count": int(count), "dim": dim,
        "similarity_threshold": sim_threshold, "cosine_threshold": a.threshold,
        "rss_before_kib": rss0, "rss_after_fill_kib": rss1,
        "put": {"count": puts, "wall_s": put_wall, "per_s": puts / put_wall if put_wall else None,
                **summary_us(put_ns)},
        "import_data": {"count": n - puts, "wall_s": import_wall,
                        "per_s": (n - puts) / import_wall if import_wall else None},
        "put_full": {"count": a.late_puts, "wall_s": late_wall,
                     "per_s": a.late_puts / late_wall if late_wall else None, **summary_us(late_ns)},
        "hit": {**summary_us(hit_ns), "wrong": hit_wrong},
        "miss": {**summary_us(miss_ns), "wrong": miss_wrong},
        "disk_bytes": sum(p.stat().st_size for p in work.iterdir() if p.is_file()),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
