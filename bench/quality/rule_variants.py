#!/usr/bin/env python3
"""Other sound rules on the same feedback, without a server: what was tried for the 5% target.

    rule_variants.py EB_JSON [EB_JSON ...]

Reads the per-query records that error_bound.py saves (pooled runs only:
``--pool``, where one table of counts decides for both folds) and replays, per
seed and bound, in Python:

- ``node``: the node's rule (quality/calibration.cpp): counts per feature
  class in 0.005 bins, a class decides with >= max(30, n0(d)) records,
  fixed-sequence testing of the regions at or above each bin with feedback,
  from the top, starting at the region holding 3 n0(d) records, stopping at
  the first whose Clopper-Pearson bound is above d. Checked against the
  server's rows of the same run (``matches``).
- ``split``: learn then test: a fixed 30% of the feedback (by a hash of the
  record's position, not its label) fits the per-class isotonic P(wrong);
  all (class, bin) cells are ordered by that estimate; the other 70% is
  tested along that order with the same fixed-sequence walk. One region over
  all classes (the bound is on the error of everything served), at the cost
  of testing on less feedback.
- ``agree``: the three classes whose numbers, negation and identifiers agree
  (close, loose, edit) as one class, the other two as before.

Each is sound under the node's assumption (feedback and queries from one
distribution); the table shows what they serve on the test half and how
often the measured error exceeded d.

A second table takes the baseline, the best static threshold chosen in
hindsight on the test half with measured error <= d, to the *other* half
(the feedback half, which it never saw): its error there says how much of
its "<= d" is the choice made on the answers.
"""
from __future__ import annotations

import hashlib
import json
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import feasibility as fz  # noqa: E402

BINS, FLOOR, WIDTH = 101, 0.5, 0.005
NCLS = len(fz.CLASSES)


def bin_of(s: float) -> int:
    if not s > FLOOR:
        return 0
    return min(int((s - FLOOR) / WIDTH + 1e-9), BINS - 1)


def n0(d: float, conf: float) -> int:
    return math.ceil(math.log(1 - conf) / math.log1p(-d) - 1e-9)


def walk(cells: list, d: float, conf: float, start: int) -> int:
    """Fixed-sequence over cumulative cells [(correct, wrong)]; index of the last accepted one, -1 if none."""
    n = w = 0
    acc = -1
    for i, (k, x) in enumerate(cells):
        n += k + x
        w += x
        if n < start:
            continue
        if fz.passes(w, n, d, conf):
            acc = i
        else:
            break
    return acc


def group_rule(fb: list, d: float, conf: float, groups) -> callable:
    cut = {}
    for g in groups:
        cnt = [[0, 0] for _ in range(BINS)]
        for r in fb:
            if r[2] in g:
                cnt[bin_of(r[0])][0 if r[1] else 1] += 1
        total = sum(a + b for a, b in cnt)
        wf = n0(d, conf)
        if total < max(30, wf):
            for c in g:
                cut[c] = BINS + 1  # the threshold (1.0 in the benchmark) decides: nothing
            continue
        bins = [b for b in range(BINS - 1, -1, -1) if sum(cnt[b])]
        acc = walk([cnt[b] for b in bins], d, conf, min(total, 3 * wf))
        for c in g:
            cut[c] = bins[acc] if acc >= 0 else BINS + 1
    return lambda r: bin_of(r[0]) >= cut[r[2]]


def isotonic(cnt: list) -> list:
    blocks = []
    for b, (k, x) in enumerate(cnt):
        if k + x == 0:
            continue
        blocks.append([x, k + x, b])
        while len(blocks) >= 2 and blocks[-2][0] / blocks[-2][1] < blocks[-1][0] / blocks[-1][1]:
            x2, n2, _ = blocks.pop()
            blocks[-1][0] += x2
            blocks[-1][1] += n2
    est = [0.5] * BINS
    bi = 0
    for b in range(BINS):
        while bi + 1 < len(blocks) and blocks[bi + 1][2] <= b:
            bi += 1
        if blocks:
            est[b] = blocks[bi][0] / blocks[bi][1]
    return est


def split_rule(fb: list, d: float, conf: float, learn: float = 0.3) -> callable:
    def part(i: int) -> bool:
        return int(hashlib.sha256(str(i).encode()).hexdigest(), 16) % 1000 < learn * 1000

    A = [[[0, 0] for _ in range(BINS)] for _ in range(NCLS)]
    B = [[[0, 0] for _ in range(BINS)] for _ in range(NCLS)]
    for i, r in enumerate(fb):
        (A if part(i) else B)[r[2]][bin_of(r[0])][0 if r[1] else 1] += 1
    nb = sum(a + b for c in B for a, b in c)
    wf = n0(d, conf)
    if nb < max(30, wf):
        return lambda r: False
    est = [isotonic(A[c]) for c in range(NCLS)]
    cells = sorted((est[c][b], -b, c, b) for c in range(NCLS) for b in range(BINS) if sum(A[c][b]) + sum(B[c][b]))
    acc = walk([B[c][b] for _, _, c, b in cells], d, conf, min(nb, 3 * wf))
    cut = [BINS + 1] * NCLS
    for _, _, c, b in cells[: acc + 1]:
        cut[c] = min(cut[c], b)
    return lambda r: bin_of(r[0]) >= cut[r[2]]


RULES = {
    "node": lambda fb, d, conf: group_rule(fb, d, conf, [(c,) for c in range(NCLS)]),
    "split": split_rule,
    "agree": lambda fb, d, conf: group_rule(fb, d, conf, [(1, 2, 4), (0,), (3,)]),
}


def main() -> None:
    for path in sys.argv[1:]:
        out = json.loads(Path(path).read_text())
        if not out.get("pool"):
            print(f"{path}: not a pooled run, skipped")
            continue
        conf = out.get("confidence", 0.95)
        print(f"{path}: kinds {out.get('kinds')}, {len(out['runs'])} seeds, confidence {conf}")
        print("")
        print("| rule | d | served (median) | correct (median) | seeds serving | seeds above d | all seeds: error | "
              "best static in hindsight: correct | same as the server |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, rule in RULES.items():
            for d in (0.01, 0.05, 0.10):
                served, correct, above, static, same = [], [], 0, [], 0
                for run in out["runs"]:
                    recs = run["feasibility"]["records"]
                    fb = [r for r in recs if r[4]]
                    test = [r for r in recs if not r[4]]
                    serve = rule(fb, d, conf)
                    hits = [r for r in test if serve(r)]
                    s, k = len(hits), sum(r[1] for r in hits)
                    served.append(s)
                    correct.append(k)
                    above += int(s > 0 and (s - k) / s > d)
                    row = next(x for x in run["rows"] if x["bound"] == d and x["check"] == "off")
                    static.append(row["static_at_bound"]["correct"])
                    same += int((row["served"], row["correct"]) == (s, k))
                tot_s, tot_k = sum(served), sum(correct)
                err = f"{(tot_s - tot_k) / tot_s:.3f}" if tot_s else "-"
                print(f"| {name} | {d:.2f} | {statistics.median(served):.0f} | {statistics.median(correct):.0f} | "
                      f"{sum(1 for x in served if x)}/{len(served)} | {above}/{len(served)} | {err} | "
                      f"{statistics.median(static):.0f} | {same if name == 'node' else '-'}"
                      f"{'/' + str(len(served)) if name == 'node' else ''} |")
        print("")
        table = []
        for d in (0.01, 0.05, 0.10):
            errs, corr, static = [], [], []
            for run in out["runs"]:
                row = next(x for x in run["rows"] if x["bound"] == d and x["check"] == "off")
                t = row["static_at_bound"]["threshold"]
                if t is None:
                    continue
                # records keep 6 decimals: the tolerance puts a record at the threshold on its side
                hits = [r for r in run["feasibility"]["records"] if r[4] and r[0] >= t - 1e-6]
                k = sum(r[1] for r in hits)
                errs.append((len(hits) - k) / len(hits) if hits else 0.0)
                corr.append(k)
                static.append(row["static_at_bound"]["correct"])
            if errs:
                table.append(f"| {d:.2f} | {statistics.median(static):.0f} ({len(errs)} seeds) | "
                             f"{statistics.median(corr):.0f}, {statistics.median(errs):.3f} "
                             f"[{min(errs):.3f}-{max(errs):.3f}] | {sum(1 for e in errs if e > d)}/{len(errs)} |")
        if table:
            print("| d | best static threshold in hindsight (test half): correct (seeds where one exists) | the same "
                  "threshold on the feedback half: correct, error median [min-max] | seeds where that error is "
                  "above d |")
            print("|---|---|---|---|")
            print("\n".join(table))
        else:
            print("No static threshold reaches any of these bounds on a test half: nothing to take to the other half.")
        print("")


if __name__ == "__main__":
    main()
