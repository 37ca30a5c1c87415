"""The ceiling analysis of the quality benchmark (bench/quality/feasibility.py).

Pure functions, plus the classifier tool when it is built: the exact bound
must match the node's (quality/binomial.cpp, the reference values of
tests/unit/quality/calibration_test.cpp), and the region search must find the
certifiable region a hand count finds.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "quality"))
import feasibility as fz  # noqa: E402


def test_clopper_pearson_matches_the_node():
    assert fz.cp_upper(0, 0) == 1.0
    assert fz.cp_upper(7, 7) == 1.0
    assert fz.cp_upper(0, 59) == pytest.approx(0.0495076, rel=1e-5)
    assert fz.cp_upper(0, 100) == pytest.approx(0.0295130, rel=1e-5)
    assert fz.cp_upper(5, 100) == pytest.approx(0.1022534, rel=1e-5)
    assert fz.cp_upper(50, 1000) == pytest.approx(0.0628634, rel=1e-5)
    assert fz.binom_cdf(3, 20, 0.3) == pytest.approx(0.1070868, rel=1e-6)


def test_the_test_without_bisection_agrees_with_the_bound():
    for n in (30, 59, 60, 177, 178, 500):
        for w in range(0, 25):
            if w >= n:
                continue
            for d in (0.01, 0.05, 0.10):
                assert fz.passes(w, n, d, 0.95) == (fz.cp_upper(w, n) <= d), (w, n, d)
    # The counts docs/quality.md quotes: 0 in 59, 3 in 177, 16 in 500, 83 in 2,000.
    assert [fz.accept_limit(n, 0.05, 0.95) for n in (58, 59, 177, 500, 2000)] == [-1, 0, 3, 16, 83]


def rec(sim, label, cls="close", refused=False):
    return {"sim": sim, "label": label, "cls": cls, "refused": refused}


def test_certifiable_region_takes_the_union_of_class_cuts():
    # close: 100 right at 0.99..0.90, then 20 wrong below; edit: 40 right at 0.95 and 1 wrong at 0.80;
    # loose: 10 wrong at the top. Alone, close passes 0.05 (0/100) and edit does not (0/40 < 59 records);
    # together 0/140 passes; loose and the wrong tails stay out.
    fb = [rec(0.99 - 0.0009 * i, True) for i in range(100)] + [rec(0.85 - 0.001 * i, False) for i in range(20)]
    fb += [rec(0.95, True, "edit") for _ in range(40)] + [rec(0.80, False, "edit")]
    fb += [rec(0.995, False, "loose") for _ in range(10)]
    test = [rec(0.97, True), rec(0.84, False), rec(0.96, True, "edit"), rec(0.81, False, "edit"),
            rec(0.999, False, "loose")]
    r = fz.certifiable_region(fb, test, 0.05, 0.95, classes=True)
    assert r["feedback"] == {"n": 140, "wrong": 0, "bound": pytest.approx(fz.cp_upper(0, 140))}
    assert r["test"] == {"served": 2, "correct": 2, "wrong": 0}
    # One similarity cut cannot leave the loose class's wrong top out: nothing passes.
    one = fz.certifiable_region(fb, test, 0.05, 0.95, classes=False)
    assert one["feedback"]["n"] == 0 and one["test"]["served"] == 0
    # In hindsight on the test records themselves, error <= 0.05 keeps the two right ones.
    assert fz.best_cuts(test, 0.05) == {"served": 2, "correct": 2, "wrong": 0}


def test_feedback_needed_grows_as_the_error_nears_the_bound():
    n = [fz.feedback_needed(p, 0.05, 0.95, 0.5) for p in (0.01, 0.02, 0.03)]
    assert n[0] == 60  # 59 wrong-free records, in steps of 10
    assert n[0] < n[1] < n[2]
    assert fz.feedback_needed(0.06, 0.05, 0.95, 0.5, n_max=2000) is None


CLASSIFY = Path(os.environ.get("FERROCACHE_BIN", str(REPO / "build" / "ferrocache"))).parent / \
    "ferrocache-quality-classify"


@pytest.mark.skipif(not CLASSIFY.exists(), reason="ferrocache-quality-classify not built")
def test_classifier_tool_uses_the_node_rules():
    got = fz.classify([("how do I install PyTorch", "how to install TensorFlow"),
                       ("convert audio to text", "convert image to text"),
                       ("How can I load a dataset from the Hub with load_dataset?",
                        "You can load a dataset from the Hub by calling load_dataset with its name.")],
                      CLASSIFY.parent)
    assert got[0] == ("conflict", True)
    assert got[1] == ("edit", False)
    assert got[2][0] == "close" and got[2][1] is False


def test_cleanest_region_beating_a_count():
    # close: 10 right above 1 wrong; edit: 5 right above 1 wrong. More than 12 correct needs both classes;
    # the cleanest such region stops each class above its wrong answer: 15 right, 0 wrong.
    recs = [rec(0.99 - 0.01 * i, True) for i in range(10)] + [rec(0.80, False)]
    recs += [rec(0.95 - 0.01 * i, True, "edit") for i in range(5)] + [rec(0.70, False, "edit")]
    got = fz.cleanest_beating(recs, 12)
    assert (got["served"], got["correct"], got["wrong"]) == (15, 15, 0)
    assert fz.cleanest_beating(recs, 14)["correct"] == 15
    assert fz.cleanest_beating(recs, 15) is None  # there are only 15 right answers


def test_replay_of_the_node_rule():
    import rule_variants as rv

    assert [rv.bin_of(s) for s in (0.2, 0.5, 0.95, 0.9549, 1.0)] == [0, 0, 90, 90, 100]
    close = fz.CLASSES.index("close")
    # [similarity, right, class, refused, in the feedback half]
    fb = [[0.97, 1, close, 0, 1]] * 59
    serve = rv.RULES["node"](fb, 0.05, 0.95)
    assert serve([0.971, 1, close, 0, 0]) and not serve([0.96, 1, close, 0, 0])
    assert not serve([0.99, 1, fz.CLASSES.index("loose"), 0, 0])  # a class without feedback
    # 58 records cannot certify 0.05 (the threshold decides, 1.0 in the benchmark: nothing).
    assert not rv.RULES["node"](fb[:58], 0.05, 0.95)([0.99, 1, close, 0, 0])
    # One wrong answer among 59: the region's bound is above 0.05.
    assert not rv.RULES["node"](fb[:58] + [[0.97, 0, close, 0, 1]], 0.05, 0.95)([0.99, 1, close, 0, 0])
