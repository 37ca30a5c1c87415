#!/usr/bin/env python3
"""Error-bounded queries learned from feedback, against a real node (docs/quality.md).

    error_bound.py --build-dir BUILD_DIR --out OUT_JSON [--seeds 1,2,3,4,5] [--markdown OUT_MD] [--pool]

Data and embeddings as in quality.py (the paraphrase pairs, the rule-made hard
negatives, all-MiniLM-L6-v2 in numpy, the same embedding cache). Per seed, on
a fresh server (the two folds of quality.py as two namespaces: two model ids,
or with ``--pool`` two cache scopes of one model id on a server started with
``quality.pool_feedback = "model"``, so that both folds' feedback decides for
both):

1. Every query once at threshold 0: its nearest entry, similarity and label
   (correct = a paraphrase whose nearest entry is its own origin; every hit of
   a negative is wrong).
2. A seeded split of the origin groups in halves: the queries of the
   feedback half are posted to ``POST /feedback`` with their label (as a
   judge that checks every answer would), through the Python client.
3. The test half is queried with ``max_error_rate`` 0.01, 0.05, 0.10 and
   ``threshold`` 1.0 (so only the bound serves: nothing falls back to a
   threshold), with and without ``check: "strict"``. Measured: served hits,
   correct hits, error rate with its Wilson 95% interval.
4. The best static threshold in hindsight, chosen on the test half itself:
   the most correct hits among thresholds whose measured error on the test
   half is at most the bound rule's measured error (and, separately, at most
   the bound d).
5. The strict check alone (threshold 0, ``check: "strict"``) on every query:
   the share of each kind that it refuses.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import quality as q  # noqa: E402  (data, embeddings, process helpers)

BOUNDS = (0.01, 0.05, 0.10)
REGION_CUTS = (0.97, 0.95, 0.90, 0.85)


def best_static(sims: np.ndarray, labels: np.ndarray, max_err: float) -> dict:
    """Most correct hits of a rule ``similarity >= t`` with measured error <= max_err (t from the data)."""
    order = np.argsort(-sims)
    s, lab = sims[order], labels[order]
    correct = np.cumsum(lab)
    served = np.arange(1, len(s) + 1)
    wrong = served - correct
    best = {"threshold": None, "served": 0, "correct": 0, "wrong": 0}
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:  # a threshold serves all ties
            j += 1
        if wrong[j] <= max_err * served[j] + 1e-12 and correct[j] > best["correct"]:
            best = {"threshold": float(s[j]), "served": int(served[j]), "correct": int(correct[j]),
                    "wrong": int(wrong[j])}
        i = j + 1
    return best


def placement(model_id: str, f: int, dim: int, pool: bool) -> dict:
    """The namespace fields of fold f."""
    if pool:
        return {"model_id": f"quality-{model_id}::{dim}", "cache_scope": f"fold{f}"}
    return {"model_id": q.namespace(model_id, f, dim)}


def one_seed(seed: int, a, origins, fold, queries, ovecs, qvecs, dim, model_id) -> dict:
    from ferrocache import FerrocacheClient

    # Seeded apart from the folds: with random.Random(seed) the split of seed
    # 7 was the fold shuffle of quality.py itself (fold seed 7), so the
    # feedback half was exactly fold 0 and the test half fold 1 (see
    # docs/benchmarks.md: what the bound does when feedback and queries differ).
    rng = random.Random(f"feedback-split {seed} of folds {a.fold_seed}")
    groups = list(range(len(origins)))
    rng.shuffle(groups)
    feedback_half = set(groups[: len(groups) // 2])
    # other-pair queries carry no group (-1): split them by their pair's own group, found by text
    group_of_text = {}
    for cat, text, f, g in queries:
        if cat == "paraphrase":
            group_of_text[text] = g

    def half(i: int) -> str:
        cat, text, f, g = queries[i]
        gg = g if g >= 0 else group_of_text.get(text, -1)
        if gg < 0:  # a hard negative: its group is the fold entry it was made from
            gg = hard_group[i]
        return "feedback" if gg in feedback_half else "test"

    work = Path(tempfile.mkdtemp(prefix="ferrocache-errbound."))
    port = q.cmp.free_port()
    (work / "data").mkdir()
    env = dict(os.environ, FERROCACHE_PORT=str(port), FERROCACHE_DATA_DIR=str(work / "data"),
               FERROCACHE_BIND_ADDRESS="127.0.0.1", FERROCACHE_LOG_LEVEL="warn")
    env.pop("FERROCACHE_AUTH_TOKEN", None)
    if a.pool:
        env["FERROCACHE_QUALITY__POOL_FEEDBACK"] = "model"
    proc = q.cmp.start([str(a.build_dir / "ferrocache")], work / "server.log", env=env, cwd=str(work))
    try:
        q.cmp.wait_http_ready(port, proc)
        client = FerrocacheClient(f"http://127.0.0.1:{port}", timeout=30, max_retries=0)
        for g, o in enumerate(origins):
            client.insert(ovecs[g].tolist(), f"answer of group {g}", o, uuid=f"g{g}",
                          **placement(model_id, fold[g], dim, a.pool))
        ns = [placement(model_id, f, dim, a.pool) for _, _, f, _ in queries]
        near = [client.query(v.tolist(), threshold=0.0, query_text=queries[i][1], **ns[i])
                for i, v in enumerate(qvecs)]
        sims = np.array([r["similarity"] for r in near])
        ids = [r["id"] for r in near]
        labels = np.array([queries[i][0] == "paraphrase" and ids[i] == f"g{queries[i][3]}"
                           for i in range(len(queries))])
        halves = [half(i) for i in range(len(queries))]
        t0 = time.perf_counter()
        posted = 0
        for i in range(len(queries)):
            if halves[i] != "feedback":
                continue
            client.feedback(ids[i], similarity=min(1.0, max(0.0, sims[i])), correct=bool(labels[i]),
                            query_text=queries[i][1], **ns[i])
            posted += 1
        feedback_s = time.perf_counter() - t0
        stats = client.stats()["namespaces"]
        test = [i for i in range(len(queries)) if halves[i] == "test"]
        tsims, tlabels = sims[test], labels[test]
        # The strict check alone (threshold 0): what it refuses, and the hit it
        # serves instead, for the "strict check + static threshold" baseline.
        strict = {}
        strict_sims, strict_ok = [], []
        for i in range(len(queries)):
            r = client.query(qvecs[i].tolist(), threshold=0.0, query_text=queries[i][1], check="strict",
                             **ns[i])
            cat = queries[i][0]
            if cat == "paraphrase":
                cat = "paraphrase (own entry)" if labels[i] else "paraphrase (other entry)"
            s = strict.setdefault(cat, {"n": 0, "refused": 0})
            s["n"] += 1
            s["refused"] += int(not r.get("hit"))
            strict_sims.append(r["similarity"] if r.get("hit") else None)
            strict_ok.append(bool(r.get("hit")) and queries[i][0] == "paraphrase" and r["id"] == f"g{queries[i][3]}")
        st_test = [i for i in test if strict_sims[i] is not None]
        ssims = np.array([strict_sims[i] for i in st_test])
        slabels = np.array([strict_ok[i] for i in st_test])
        rows = []
        for d in BOUNDS:
            for check in ("off", "strict"):
                served = correct = 0
                by_rule = {}
                for i in test:
                    r = client.query(qvecs[i].tolist(), threshold=1.0, query_text=queries[i][1],
                                     max_error_rate=d, check=check, **ns[i])
                    if r.get("hit"):
                        served += 1
                        # right iff it is the query's own origin (the gate may pass over the nearest entry)
                        ok = queries[i][0] == "paraphrase" and r["id"] == f"g{queries[i][3]}"
                        correct += int(ok)
                        by_rule[r["decided_by"]] = by_rule.get(r["decided_by"], 0) + 1
                wrong = served - correct
                err = q.rate(wrong, served)
                rows.append({"bound": d, "check": check, "served": served, "correct": correct, "wrong": wrong,
                             "error": err, "decided_by": by_rule,
                             "static_same_error": best_static(tsims, tlabels, wrong / served if served else 0.0),
                             "static_at_bound": best_static(tsims, tlabels, d),
                             "static_strict_at_bound": best_static(ssims, slabels, d)})
        client.close()
    finally:
        q.cmp.stop(proc)
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    quality_stats = {k: v.get("quality") for k, v in stats.items()}
    feas = feasibility_of(a, queries, sims, ids, labels, halves) if a.feasibility else None
    # How wrong the regions of high similarity are, over every query (both
    # halves), without and with the strict check: what any rule over
    # similarity has to work with.
    regions = {}
    for t in REGION_CUTS:
        top = [i for i in range(len(queries)) if sims[i] >= t]
        stop = [i for i in range(len(queries)) if strict_sims[i] is not None and strict_sims[i] >= t]
        regions[str(t)] = {"n": len(top), "wrong": int(sum(1 for i in top if not labels[i])),
                           "strict_n": len(stop), "strict_wrong": int(sum(1 for i in stop if not strict_ok[i]))}
    return {"seed": seed, "feedback_posted": posted, "feedback_s": feedback_s, "test_queries": len(test),
            "regions": regions,
            "test_correct_available": int(tlabels.sum()), "rows": rows, "strict": strict,
            "model": quality_stats, "feasibility": feas}


def feasibility_of(a, queries, sims, ids, labels, halves) -> dict:
    """The ceiling of feasibility.py on this seed's nearest entries, labels and split."""
    import feasibility as fz

    conf = float(os.environ.get("FERROCACHE_QUALITY__CONFIDENCE", "0.95"))
    texts = [(queries[i][1], origins_text[int(ids[i][1:])]) for i in range(len(queries))]
    cls = fz.classify(texts, a.build_dir)
    recs = [{"sim": float(sims[i]), "label": bool(labels[i]), "cls": cls[i][0], "refused": cls[i][1],
             "half": halves[i]} for i in range(len(queries))]
    fb = [r for r in recs if r["half"] == "feedback"]
    test = [r for r in recs if r["half"] == "test"]
    out = {}
    for d in BOUNDS:
        out[str(d)] = {
            "one_cut": fz.certifiable_region(fb, test, d, conf, classes=False),
            "one_cut_strict": fz.certifiable_region([r for r in fb if not r["refused"]],
                                                    [r for r in test if not r["refused"]], d, conf, classes=False),
            "class_cuts": fz.certifiable_region(fb, test, d, conf, classes=True),
            "class_cuts_hindsight_test": fz.best_cuts(test, d),
        }
        # The cleanest region of the test half that beats the static threshold there (chosen on the test half,
        # so its measured error there is optimistic), and the same region in the feedback half: its counts
        # there (an independent sample of it), whether they pass the node's test at d, and how many records a
        # region with that error needs before the test passes in half the samples.
        test_sims = np.array([r["sim"] for r in test])
        test_labels = np.array([r["label"] for r in test])
        static = best_static(test_sims, test_labels, d)["correct"]
        clean = fz.cleanest_beating(test, static)
        if clean:
            held = fz.apply(clean["cuts"], fb)
            err_fb = held["wrong"] / held["served"] if held["served"] else 1.0
            out[str(d)]["cleanest_beating_static"] = {
                "static": static, "served": clean["served"], "correct": clean["correct"], "wrong": clean["wrong"],
                "error": clean["error"], "feedback": held, "feedback_error": err_fb,
                "feedback_passes": fz.passes(held["wrong"], held["served"], d, conf),
                "needed": fz.feedback_needed(err_fb, d, conf, 0.5) if err_fb < d else None}
    # Every query's nearest entry as the analysis saw it, so that it can be redone without a server:
    # [similarity, right, class, refused by the strict check, in the feedback half].
    out["records"] = [[round(r["sim"], 6), int(r["label"]), fz.CLASSES.index(r["cls"]), int(r["refused"]),
                       int(r["half"] == "feedback")] for r in recs]
    return out


hard_group: list = []
origins_text: list = []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--pool", action="store_true",
                    help="folds as two cache scopes of one model id, feedback pooled by model id")
    ap.add_argument("--fold-seed", type=int, default=7)
    ap.add_argument("--kinds", default="",
                    help="comma-separated query kinds to keep (paraphrase, other-pair, negation, number, entity); "
                         "default: all. Feedback and test halves both use only these kinds.")
    ap.add_argument("--cache-dir", type=Path,
                    default=Path(os.environ.get("FERRO_BENCH_CACHE") or
                                 Path(tempfile.gettempdir()) / "ferrocache-bench-cache"))
    ap.add_argument("--no-feasibility", dest="feasibility", action="store_false",
                    help="skip the ceiling of feasibility.py (needs ferrocache-quality-classify in the build dir)")
    a = ap.parse_args()
    a.build_dir = a.build_dir.resolve()
    if a.feasibility and not (a.build_dir / "ferrocache-quality-classify").exists():
        raise SystemExit("ferrocache-quality-classify not built (ninja -C BUILD ferrocache-quality-classify); "
                         "or --no-feasibility")
    pairs_path = Path(os.environ.get("FERRO_PARAPHRASE_PAIRS") or q.REPO.parent / "shared" / "data" /
                      "paraphrase_pairs.json")
    pairs = q.load_pairs(pairs_path)
    origins, fold, queries = q.build_queries(pairs, a.fold_seed)
    global hard_group, origins_text
    origins_text = origins
    hard_group = [g for _, _, _, g in queries]
    # build_queries gives hard negatives group -1; recover it from negatives.hard_negatives' order.
    from negatives import hard_negatives
    hard = [g for g, _, _ in hard_negatives(origins)]
    first_hard = len(queries) - len(hard)
    for k, g in enumerate(hard):
        hard_group[first_hard + k] = g
    if a.kinds:
        keep = set(a.kinds.split(","))
        idx = [i for i, x in enumerate(queries) if x[0] in keep]
        queries = [queries[i] for i in idx]
        hard_group = [hard_group[i] for i in idx]
    from minilm_numpy import MODEL_ID, MiniLM
    cache = q.EmbeddingCache(a.cache_dir, MODEL_ID)
    vecs = cache.embed(origins + [x[1] for x in queries], MiniLM)
    ovecs, qvecs = vecs[: len(origins)], vecs[len(origins):]
    dim = int(ovecs.shape[1])
    q.log(f"{len(pairs)} pairs, {len(origins)} groups, {len(queries)} queries")
    runs = []
    for seed in [int(s) for s in a.seeds.split(",")]:
        t0 = time.perf_counter()
        runs.append(one_seed(seed, a, origins, fold, queries, ovecs, qvecs, dim, MODEL_ID))
        q.log(f"seed {seed} done in {time.perf_counter() - t0:.1f} s")
    out = {"model": MODEL_ID, "pairs_file": str(pairs_path), "pairs": len(pairs), "groups": len(origins),
           "queries": {c: sum(1 for x in queries if x[0] == c) for c in sorted({x[0] for x in queries})},
           "fold_seed": a.fold_seed, "kinds": a.kinds or "all", "pool": a.pool,
           "confidence": float(os.environ.get("FERROCACHE_QUALITY__CONFIDENCE", "0.95")), "runs": runs,
           "date": time.strftime("%Y-%m-%d", time.gmtime()), "machine": os.uname().nodename,
           "cpus": os.cpu_count()}
    a.out.write_text(json.dumps(out, indent=1))
    if a.markdown:
        a.markdown.write_text(render(out))
    print(render(out))


def pooled_cell(rows: list) -> str:
    """Wrong over served, summed over the seeds, with its Wilson interval."""
    wrong = sum(x["wrong"] for x in rows)
    served = sum(x["served"] for x in rows)
    if not served:
        return "0/0"
    lo, hi = q.wilson(wrong, served)
    return f"{wrong}/{served} = {wrong / served:.3f} [{lo:.3f}, {hi:.3f}]"


def render(out: dict) -> str:
    runs = out["runs"]
    lines = []
    pooled = ("feedback pooled: the two folds are two cache scopes of one model id, server with "
              "`quality.pool_feedback = \"model\"`" if out.get("pool") else
              "feedback per namespace: the two folds are two model ids")
    lines.append(f"Query kinds: {out.get('kinds', 'all')}; {pooled}; confidence {out.get('confidence', 0.95)}. "
                 f"Seeds {', '.join(str(r['seed']) for r in runs)} (split of the {out['groups']} origin groups "
                 f"into a feedback half and a test half; folds as in the section above). Per seed "
                 f"~{statistics.median(r['feedback_posted'] for r in runs):.0f} feedback records posted, "
                 f"~{statistics.median(r['test_queries'] for r in runs):.0f} test queries, of which "
                 f"~{statistics.median(r['test_correct_available'] for r in runs):.0f} paraphrases have their "
                 f"own origin as nearest entry (the most correct hits any rule can serve).")
    lines.append("")
    lines.append("| max_error_rate | check | served (median) | correct | measured error, median [min-max] | "
                 "Wilson 95% of the median seed | best static threshold at the same measured error: correct | "
                 "best static at error <= bound: correct | strict check + best static at error <= bound: correct | "
                 "seeds whose measured error is above d [Wilson 95%] | seeds above d significantly | "
                 "all seeds together: wrong/served [Wilson 95%] |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for d in BOUNDS:
        for check in ("off", "strict"):
            rows = [next(x for x in r["rows"] if x["bound"] == d and x["check"] == check) for r in runs]
            errs = [x["error"]["rate"] if x["served"] else 0.0 for x in rows]
            med = sorted(range(len(rows)), key=lambda k: errs[k])[len(rows) // 2]
            e = rows[med]["error"]
            ci = f"[{e['lo']:.3f}, {e['hi']:.3f}]" if rows[med]["served"] else "-"
            within = sum(1 for x in errs if x <= d)
            # "significantly": the Wilson 95% interval of that seed's error lies entirely above d
            above = sum(1 for x in rows if x["served"] and x["error"]["lo"] > d)
            lines.append(
                f"| {d:.2f} | {check} | {statistics.median(x['served'] for x in rows):.0f} | "
                f"{statistics.median(x['correct'] for x in rows):.0f} | {statistics.median(errs):.3f} "
                f"[{min(errs):.3f}-{max(errs):.3f}] | {ci} | "
                f"{statistics.median(x['static_same_error']['correct'] for x in rows):.0f} | "
                f"{statistics.median(x['static_at_bound']['correct'] for x in rows):.0f} | "
                f"{statistics.median(x.get('static_strict_at_bound', {}).get('correct', 0) for x in rows):.0f} | "
                f"{len(rows) - within}/{len(rows)} [{q.wilson(len(rows) - within, len(rows))[0]:.2f}, "
                f"{q.wilson(len(rows) - within, len(rows))[1]:.2f}] | {above}/{len(rows)} | "
                f"{pooled_cell(rows)} |")
    lines.append("")
    reg = runs[0].get("regions")
    if reg:
        lines.append("Error of the similarity regions over every query of the mix (both halves; seed "
                     f"{runs[0]['seed']}), nearest entry / with the strict check: " + "; ".join(
                         f">= {t}: {r['wrong']}/{r['n']} ({q.rate(r['wrong'], r['n'])['rate']:.3f}) / "
                         f"{r['strict_wrong']}/{r['strict_n']} ({q.rate(r['strict_wrong'], r['strict_n'])['rate']:.3f})"
                         for t, r in reg.items() if r["n"] and r["strict_n"]) + ".")
        lines.append("")
    lines.append("Per seed, check off: correct/served (measured error) of the bound rule, and the correct hits of "
                 "the best static threshold in hindsight at error <= d, without / with the strict check.")
    lines.append("")
    lines.append("| seed | " + " | ".join(f"d = {d:.2f}" for d in BOUNDS) + " |")
    lines.append("|---|" + "---|" * len(BOUNDS))
    for r in runs:
        cells = []
        for d in BOUNDS:
            x = next(x for x in r["rows"] if x["bound"] == d and x["check"] == "off")
            e = f"{x['error']['rate']:.3f}" if x["served"] else "-"
            cells.append(f"{x['correct']}/{x['served']} ({e}); static {x['static_at_bound']['correct']} / "
                         f"{x.get('static_strict_at_bound', {}).get('correct', 0)}")
        lines.append(f"| {r['seed']} | " + " | ".join(cells) + " |")
    lines.append("")
    if all(r.get("feasibility") for r in runs):
        lines += render_feasibility(runs, out.get("confidence", 0.95))
    lines.append("Strict check alone (threshold 0, every query of every seed's run; identical across seeds): "
                 "share of the nearest answers it refuses.")
    lines.append("")
    lines.append("| kind | queries | refused |")
    lines.append("|---|---|---|")
    for cat, s in sorted(runs[0]["strict"].items()):
        lines.append(f"| {cat} | {s['n']} | {s['refused'] / s['n']:.1%} |")
    return "\n".join(lines) + "\n"


def render_feasibility(runs: list, conf: float) -> list:
    """The ceiling table (feasibility.py): certifiable regions chosen with hindsight on the feedback half."""
    def med(xs):
        return f"{statistics.median(xs):.0f}"

    lines = [f"Ceiling (bench/quality/feasibility.py; the same nearest entries, labels and split as above): on "
             f"each seed's feedback half, the region with the most correct feedback whose one-sided "
             f"Clopper-Pearson {conf} upper bound is <= d, chosen with hindsight on that half. A sound rule would "
             f"also have to pay for choosing among regions; this pays nothing, so these regions are optimistic "
             f"(their measured error can exceed d): a ceiling for what a rule of the node's kind could certify "
             f"from this feedback. Its correct/served on the test half, median over seeds (seeds where it "
             f"serves anything; seeds where it has more correct hits than the best static threshold in hindsight "
             f"at error <= d). Regions: one similarity cut; one cut over the hits the strict check passes; a cut "
             f"per feature class (the five classes of quality/). Last column, for scale: cuts per class chosen on "
             f"the test half itself with measured error <= d.",
             "",
             "| d | best static threshold in hindsight: correct | one cut: correct/served (serving; beats static) "
             "| one cut + strict check | per-class cuts (5 feature classes) | per-class cuts, error over all seeds "
             "| per-class cuts chosen on the test half, error <= d: correct |",
             "|---|---|---|---|---|---|---|"]
    for d in BOUNDS:
        f = [r["feasibility"][str(d)] for r in runs]
        static = [next(x for x in r["rows"] if x["bound"] == d and x["check"] == "off")["static_at_bound"]["correct"]
                  for r in runs]

        def cell(key):
            t = [x[key]["test"] for x in f]
            serving = sum(1 for x in t if x["served"])
            beats = sum(1 for x, s in zip(t, static) if x["correct"] > s)
            return (f"{med(x['correct'] for x in t)}/{med(x['served'] for x in t)} ({serving}/{len(t)}; "
                    f"{beats}/{len(t)})")
        t2 = [x["class_cuts"]["test"] for x in f]
        lines.append(f"| {d:.2f} | {med(static)} | {cell('one_cut')} | {cell('one_cut_strict')} | "
                     f"{cell('class_cuts')} | {pooled_cell(t2)} | "
                     f"{med(x['class_cuts_hindsight_test']['correct'] for x in f)} |")
    lines.append("")
    lines.append("What beating the static threshold would take: on each seed's test half, the union of per-class cuts "
                 "with the lowest measured error among those with more correct hits than the best static threshold "
                 "in hindsight there (chosen on the test half, so that error is optimistic); the same region in the "
                 "feedback half (an independent sample of it): its feedback records and their error, whether they "
                 f"pass the node's Clopper-Pearson {conf} test at d, and the records a region with that error needs "
                 "before the test passes in half the samples (feasibility.py, `feedback_needed`); medians over seeds.")
    lines.append("")
    lines.append("| d | static: correct | cleanest region beating it on the test half: correct/served, error "
                 "median [min-max] | the same region in the feedback half: records, error median [min-max] | "
                 "seeds where they pass d | records needed at that error (seeds where it is below d) |")
    lines.append("|---|---|---|---|---|---|")
    for d in BOUNDS:
        c = [r["feasibility"][str(d)].get("cleanest_beating_static") for r in runs]
        c = [x for x in c if x and "feedback" in x]
        if not c:
            continue
        errs = [x["error"] for x in c]
        ferrs = [x["feedback_error"] for x in c]
        need = [x["needed"] for x in c if x["needed"]]
        lines.append(f"| {d:.2f} | {med(x['static'] for x in c)} | {med(x['correct'] for x in c)}/"
                     f"{med(x['served'] for x in c)}, {statistics.median(errs):.3f} [{min(errs):.3f}-{max(errs):.3f}] | "
                     f"{med(x['feedback']['served'] for x in c)}, {statistics.median(ferrs):.3f} "
                     f"[{min(ferrs):.3f}-{max(ferrs):.3f}] | {sum(1 for x in c if x['feedback_passes'])}/{len(c)} | "
                     f"{med(need) if need else '-'} ({len(need)}/{len(c)}) |")
    lines.append("")
    return lines


if __name__ == "__main__":
    main()
