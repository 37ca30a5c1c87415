#!/usr/bin/env python3
"""How far a certified bound can go on a labelled set: the ceiling behind error_bound.py.

    feasibility.py [--bound 0.05] [--confidence 0.95]    (prints the feedback-needed table)

Used by error_bound.py (``--feasibility``) per seed, on the same nearest
entries, labels and split as the server run:

- ``certifiable_region``: on the *feedback half*, the region that a bound of
  the node's kind could certify with the most correct hits, chosen with
  hindsight on that half and without paying for the choice (no correction for
  looking at many regions, which a real rule must pay). A region is a union
  of per-class upper sets ``{similarity >= t_c}`` (``classes=True``: the five
  feature classes of quality/, from ``ferrocache-quality-classify``) or one
  similarity cut; it passes when the one-sided Clopper-Pearson upper bound of
  its error at ``confidence`` is <= d, the node's test. Its correct hits on
  the *test half* bound from above what any rule that certifies the region it
  serves with that test, on that feedback, could serve with those features.
- ``best_cuts``: the same kind of region chosen on the test half itself with
  measured error <= d (a two-dimensional "best static threshold in
  hindsight", for scale; the benchmark's baseline stays the one-dimensional
  threshold).
- ``cleanest_beating``: on the test half, the union of per-class cuts with
  the lowest error among those with more correct hits than the best static
  threshold; with ``feedback_needed``, how much feedback certifying d over
  such a region takes.
- ``feedback_needed``: the records a region with true error p needs before
  the Clopper-Pearson test certifies d in half (or 90%) of the samples.

Pure Python (math only), so that the benchmark needs no SciPy.
"""
from __future__ import annotations

import argparse
import math
import subprocess
from pathlib import Path

CLASSES = ("no_text", "close", "loose", "conflict", "edit")


def _log_pmf(k: int, n: int, p: float) -> float:
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p) +
            (n - k) * math.log1p(-p))


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k), X ~ Binomial(n, p), summed in log space (k is small here)."""
    if k >= n or p <= 0:
        return 1.0
    if p >= 1:
        return 0.0
    terms = [_log_pmf(i, n, p) for i in range(k + 1)]
    m = max(terms)
    return min(1.0, math.exp(m) * sum(math.exp(t - m) for t in terms))


def cp_upper(wrong: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound, as quality::binomial_upper (bisection to 1e-10)."""
    if n == 0 or wrong >= n:
        return 1.0
    alpha = 1 - confidence
    lo, hi = wrong / n, 1.0
    while hi - lo > 1e-10:
        mid = (lo + hi) / 2
        if binom_cdf(wrong, n, mid) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


def passes(wrong: int, n: int, d: float, confidence: float) -> bool:
    """CP upper <= d, without the bisection: P(Binomial(n, d) <= wrong) <= 1 - confidence."""
    return n > 0 and wrong < n and binom_cdf(wrong, n, d) <= 1 - confidence


def classify(pairs: list, build_dir: Path) -> list:
    """(class name, refused by the strict check) per (query text, entry text), with the node's own code."""
    tool = Path(build_dir) / "ferrocache-quality-classify"
    clean = [(a.replace("\t", " ").replace("\n", " "), b.replace("\t", " ").replace("\n", " ")) for a, b in pairs]
    out = subprocess.run([str(tool)], input="".join(f"{a}\t{b}\n" for a, b in clean), capture_output=True,
                         text=True, check=True).stdout.split("\n")
    res = []
    for line in out[: len(pairs)]:
        c, refused = line.split()
        res.append((c, refused == "1"))
    return res


def _options(records: list, group) -> dict:
    """For one class (or all records): wrong -> (n, cut) of the largest upper set with that many wrong."""
    s = sorted((r for r in records if group is None or r["cls"] == group), key=lambda r: -r["sim"])
    opts = {0: (0, 2.0)}
    n = w = 0
    for r in s:
        n += 1
        w += 0 if r["label"] else 1
        if n > opts.get(w, (-1, 0))[0]:
            opts[w] = (n, r["sim"])
    return opts


def _regions(records: list, classes: bool) -> dict:
    """wrong -> (n, {class: cut}) of the largest union of per-class upper sets with that many wrong."""
    groups = CLASSES if classes else (None,)
    best = {0: (0, {})}
    for g in groups:
        opts = _options(records, g)
        nb: dict = {}
        for w1, (n1, cuts1) in best.items():
            for w2, (n2, cut2) in opts.items():
                if n1 + n2 > nb.get(w1 + w2, (-1, None))[0]:
                    nb[w1 + w2] = (n1 + n2, {**cuts1, g: cut2})
        best = nb
    return best


def serves(cuts: dict, r: dict) -> bool:
    key = r["cls"] if any(k is not None for k in cuts) else None
    return r["sim"] >= cuts.get(key, 2.0)


def apply(cuts: dict, records: list) -> dict:
    served = [r for r in records if serves(cuts, r)]
    correct = sum(1 for r in served if r["label"])
    return {"served": len(served), "correct": correct, "wrong": len(served) - correct}


def certifiable_region(feedback: list, test: list, d: float, confidence: float, classes: bool) -> dict:
    """The region with the most correct feedback whose Clopper-Pearson bound is <= d (hindsight on the
    feedback half), and what it serves on the test half."""
    best = None
    for w, (n, cuts) in _regions(feedback, classes).items():
        if w > d * n or not passes(w, n, d, confidence):
            continue
        if best is None or n - w > best[0] - best[1]:
            best = (n, w, cuts)
    if best is None:
        return {"feedback": {"n": 0, "wrong": 0}, "test": {"served": 0, "correct": 0, "wrong": 0}}
    n, w, cuts = best
    return {"feedback": {"n": n, "wrong": w, "bound": cp_upper(w, n, confidence)},
            "cuts": {str(k): v for k, v in cuts.items()}, "test": apply(cuts, test)}


def best_cuts(test: list, d: float) -> dict:
    """Most correct hits of a union of per-class cuts with measured error <= d on these records."""
    best = {"served": 0, "correct": 0, "wrong": 0}
    for w, (n, _) in _regions(test, True).items():
        if n and w <= d * n + 1e-12 and n - w > best["correct"]:
            best = {"served": n, "correct": n - w, "wrong": w}
    return best


def cleanest_beating(records: list, k: int) -> dict:
    """Among unions of per-class cuts of these records with more than k correct, the one with the lowest
    error (None when there is none)."""
    best = None
    for w, (n, cuts) in _regions(records, True).items():
        if n - w > k and (best is None or w / n < best[1] / best[0]):
            best = (n, w, cuts)
    if best is None:
        return None
    n, w, cuts = best
    return {"served": n, "correct": n - w, "wrong": w, "error": w / n, "cuts": cuts}


def accept_limit(n: int, d: float, confidence: float) -> int:
    """The most wrong answers among n with which the Clopper-Pearson bound is still <= d (-1: none)."""
    k = -1
    while passes(k + 1, n, d, confidence):
        k += 1
    return k


def feedback_needed(p: float, d: float, confidence: float, prob: float, n_max: int = 40000) -> int:
    """Least region size n (multiple of 10) at which a region with true error p passes the test with
    probability >= prob (None above n_max)."""
    k = -1
    for n in range(10, n_max + 1, 10):
        while passes(k + 1, n, d, confidence):
            k += 1
        if k >= 0 and binom_cdf(k, n, p) >= prob:
            return n
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bound", type=float, default=0.05)
    ap.add_argument("--confidence", type=float, default=0.95)
    a = ap.parse_args()
    print(f"Records a region needs before the one-sided Clopper-Pearson bound at {a.confidence} certifies "
          f"{a.bound}, by the region's true error p:")
    print("")
    print("| p | certified in half the samples | in 90% of them | wrong allowed at that size (half) |")
    print("|---|---|---|---|")
    for p in (0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045):
        n50 = feedback_needed(p, a.bound, a.confidence, 0.5)
        n90 = feedback_needed(p, a.bound, a.confidence, 0.9)
        print(f"| {p:.3f} | {n50} | {n90} | {accept_limit(n50, a.bound, a.confidence) if n50 else '-'} |")


if __name__ == "__main__":
    main()
