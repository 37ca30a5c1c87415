"""Answer quality against the real binary: matched_query_text, decided_by, the
strict check, /feedback (durable across kill -9 and compaction) and
max_error_rate decided by the learned bound (docs/quality.md)."""
from __future__ import annotations

import random

import pytest

from ferro_node import FerroNode
from helpers import Api, rand_vec, with_similarity

DIM = 16


@pytest.fixture
def restartable(tmp_path):
    node = FerroNode(tmp_path / "n")
    yield node
    node.stop()


def test_a_hit_carries_the_matched_query_text_and_the_rule_that_decided(node):
    rng = random.Random(21)
    api = Api(node.port)
    base = rand_vec(rng, DIM)
    entry_id = api.insert(base, response="8849 m", query_text="How tall is Mount Everest?")[1]["id"]
    status, hit = api.query(with_similarity(base, 0.95, rng), threshold=0.9, query_text="Everest height?")
    assert status == 200 and hit["hit"] and hit["id"] == entry_id
    assert hit["matched_query_text"] == "How tall is Mount Everest?"
    assert hit["decided_by"] == "threshold"
    assert "error_estimate" not in hit
    exact = api.query(rand_vec(rng, DIM), query_text="how tall is   MOUNT everest?")[1]
    assert exact["exact_match"] and exact["decided_by"] == "exact"
    # Misses keep their exact shape.
    assert api.query(with_similarity(base, 0.5, rng), threshold=0.9)[1] == {"hit": False}
    no_text = rand_vec(rng, DIM)
    api.insert(no_text, response="x", query_text="")
    assert api.query(no_text, threshold=0.99)[1]["matched_query_text"] == ""


def test_strict_check_refuses_a_hit_whose_number_changed(node):
    rng = random.Random(22)
    api = Api(node.port)
    base = rand_vec(rng, DIM)
    api.insert(base, response="20%", query_text="What is the capital gains tax rate for 2023?")
    probe = with_similarity(base, 0.97, rng)
    changed = "What is the capital gains tax rate for 2024?"
    assert api.query(probe, threshold=0.9, query_text=changed)[1]["hit"] is True
    assert api.query(probe, threshold=0.9, query_text=changed, check="strict")[1] == {"hit": False}
    same = api.query(probe, threshold=0.9, query_text="capital gains tax rate for 2023, what is it?",
                     check="strict")[1]
    assert same["hit"] and same["decided_by"] == "threshold"
    negated = api.query(probe, threshold=0.9, query_text="Is there no capital gains tax for 2023?",
                        check="strict")[1]
    assert negated == {"hit": False}
    counters = api.call("GET", "/stats")[1]["counters"]
    assert counters["quality_check_refusals_total"] == 2


def test_strict_check_can_be_the_configured_default(make_node):
    rng = random.Random(23)
    node = make_node(FERROCACHE_QUALITY__DEFAULT_CHECK="strict")
    api = Api(node.port)
    base = rand_vec(rng, DIM)
    api.insert(base, response="r", query_text="How do I install gpt-4 tools?")
    probe = with_similarity(base, 0.97, rng)
    assert api.query(probe, threshold=0.9, query_text="How do I install gpt-3 tools?")[1] == {"hit": False}
    assert api.query(probe, threshold=0.9, query_text="How do I install gpt-3 tools?",
                     check="off")[1]["hit"] is True


def test_bad_quality_fields_are_refused_and_change_nothing(node):
    rng = random.Random(24)
    api = Api(node.port)
    base = rand_vec(rng, DIM)
    entry_id = api.insert(base, query_text="q")[1]["id"]
    for bad, code in [({"max_error_rate": 0}, 400), ({"max_error_rate": 0.6}, 400), ({"max_error_rate": -1}, 400),
                      ({"max_error_rate": "x"}, 422), ({"check": "maybe"}, 400), ({"check": 1}, 422)]:
        status, body = api.query(base, **bad)
        assert status == code and "error" in body, (bad, status, body)
    good = {"id": entry_id, "model_id": "m", "similarity": 0.9, "correct": True}
    cases = [
        ({k: v for k, v in good.items() if k != "correct"}, 422),
        ({k: v for k, v in good.items() if k != "similarity"}, 422),
        ({k: v for k, v in good.items() if k != "id"}, 422),
        ({k: v for k, v in good.items() if k != "model_id"}, 422),
        ({**good, "correct": "yes"}, 422),
        ({**good, "similarity": 1.5}, 400),
        ({**good, "similarity": -0.1}, 400),
        ({**good, "similarity": "high"}, 422),
        ({**good, "id": ""}, 400),
        ({**good, "id": "a/b"}, 400),
        ({**good, "model_id": " "}, 400),
        ({**good, "query_text": 3}, 422),
        ({**good, "query_text": "x" * 9000}, 400),
        ({**good, "id": "no-such-id"}, 404),
        ({**good, "cache_scope": "other-tenant"}, 404),
        ({**good, "model_id": "other"}, 404),
    ]
    for body, code in cases:
        status, reply = api.call("POST", "/feedback", body)
        assert status == code and "error" in reply, (body, status, reply)
    status, reply = api.call("POST", "/feedback", raw=b"{not json")
    assert status == 400
    stats = api.call("GET", "/stats")[1]
    assert stats["counters"]["feedback_total"] == 0
    assert "quality" not in stats["namespaces"]["m"]
    assert api.call("POST", "/feedback", good)[1] == {"status": "ok"}
    assert api.call("GET", "/stats")[1]["counters"]["feedback_total"] == 1


def feedback(api, entry_id, n, similarity, correct, query_text):
    for _ in range(n):
        status, body = api.call("POST", "/feedback", {"id": entry_id, "model_id": "m", "similarity": similarity,
                                                      "correct": correct, "query_text": query_text})
        assert status == 200, body


def quality_of(api):
    return api.call("GET", "/stats")[1]["namespaces"]["m"].get("quality")


def test_feedback_is_durable_and_drives_the_error_bound(restartable):
    rng = random.Random(25)
    node = restartable.start()
    api = Api(node.port)
    base = rand_vec(rng, DIM)
    entry_id = api.insert(base, response="use sorted()", query_text="how to sort a list")[1]["id"]
    text = "how do I sort a list"
    probe = with_similarity(base, 0.86, rng)
    # No feedback yet: the threshold decides.
    assert api.query(probe, threshold=0.95, query_text=text, max_error_rate=0.1)[1] == {"hit": False}
    feedback(api, entry_id, 20, 0.85, True, text)
    node.kill()
    node.start()
    api = Api(node.port)
    q = quality_of(api)
    # The two texts have the same content words ("sort", "list"): class `edit`.
    assert q["feedback_total"] == 20 and q["classes"]["edit"]["correct"] == 20
    assert q["classes"]["edit"]["active"] is False  # fewer than quality.min_feedback (30)
    api.call("POST", "/admin/compact")
    feedback(api, entry_id, 20, 0.85, True, text)
    node.kill()
    node.start()
    api = Api(node.port)
    q = quality_of(api)
    assert q["feedback_total"] == 40, q  # 20 from the snapshot, 20 replayed from the log
    edit = q["classes"]["edit"]
    assert edit["active"] is True and edit["wrong"] == 0
    # 0 wrong of 40 at 0.85: the 95% Clopper-Pearson upper bound is 1 - 0.05^(1/40) = 0.072.
    hit = api.query(probe, threshold=0.95, query_text=text, max_error_rate=0.1)[1]
    assert hit["hit"] and hit["decided_by"] == "error_bound", hit
    assert hit["error_bound"] == pytest.approx(1 - 0.05 ** (1 / 40), rel=1e-6)
    assert 0 <= hit["error_estimate"] <= hit["error_bound"]
    # A tighter bound than 40 records can certify (0.05 needs 59 wrong-free):
    # the threshold decides, as without feedback.
    tight = api.query(with_similarity(base, 0.97, rng), threshold=0.9, query_text=text, max_error_rate=0.05)[1]
    assert tight["hit"] and tight["decided_by"] == "threshold", tight
    assert api.query(probe, threshold=0.9, query_text=text, max_error_rate=0.05)[1] == {"hit": False}
    # Below the lowest similarity with feedback nothing is served by the bound.
    assert api.query(with_similarity(base, 0.80, rng), threshold=0.5, query_text=text,
                     max_error_rate=0.1)[1] == {"hit": False}
    # Other classes have no feedback: the threshold decides for them.
    other = api.query(with_similarity(base, 0.96, rng), threshold=0.95, max_error_rate=0.1)[1]
    assert other["hit"] and other["decided_by"] == "threshold"
    # Wrong feedback raises the bound: 10 wrong of 50 closes the door.
    feedback(api, entry_id, 10, 0.86, False, text)
    assert quality_of(api)["classes"]["edit"]["wrong"] == 10
    assert api.query(probe, threshold=0.95, query_text=text, max_error_rate=0.1)[1] == {"hit": False}
    assert node.stop() == 0
    node.start()
    assert quality_of(Api(node.port))["feedback_total"] == 50


def pooled_setup(api, rng, text):
    """Two scopes of model "m" and one of model "other", with the same entry;
    60 correct feedback records (enough to certify 0.05: 59 wrong-free) at
    0.85, all in scope "a"."""
    base = rand_vec(rng, DIM)
    a_id = api.insert(base, response="use sorted()", query_text="how to sort a list", cache_scope="a")[1]["id"]
    api.insert(base, response="use sorted()", query_text="how to sort a list", cache_scope="b")
    api.insert(base, response="use sorted()", query_text="how to sort a list", model_id="other")
    for _ in range(60):
        status, body = api.call("POST", "/feedback", {"id": a_id, "model_id": "m", "cache_scope": "a",
                                                      "similarity": 0.85, "correct": True, "query_text": text})
        assert status == 200, body
    return base


def test_pooled_feedback_decides_for_every_namespace_of_the_model(tmp_path):
    rng = random.Random(27)
    text = "how do I sort a list"
    node = FerroNode(tmp_path / "pooled", env={"FERROCACHE_QUALITY__POOL_FEEDBACK": "model"}).start()
    try:
        api = Api(node.port)
        base = pooled_setup(api, rng, text)
        probe = with_similarity(base, 0.86, rng)
        for _ in range(2):  # before and after a restart (the pool is rebuilt from the recovered counts)
            # Scope "b" has no feedback of its own; the pool of model "m" decides.
            hit = api.query(probe, threshold=0.95, query_text=text, max_error_rate=0.05, cache_scope="b")[1]
            assert hit["hit"] and hit["decided_by"] == "error_bound", hit
            assert hit["error_bound"] == pytest.approx(1 - 0.05 ** (1 / 60), rel=1e-6)
            # Another model_id shares nothing: its threshold decides (0.86 < 0.95).
            assert api.query(probe, model_id="other", threshold=0.95, query_text=text,
                             max_error_rate=0.05)[1] == {"hit": False}
            # /stats keeps each namespace's own counts, and shows where the pool serves from.
            stats = api.call("GET", "/stats")[1]["namespaces"]
            assert stats["m::a"]["quality"]["classes"]["edit"]["correct"] == 60
            assert "quality" not in stats["m::b"]
            node.kill()
            node.start()
            api = Api(node.port)
    finally:
        node.stop()


def test_feedback_is_not_pooled_by_default(restartable):
    rng = random.Random(28)
    text = "how do I sort a list"
    node = restartable.start()
    api = Api(node.port)
    base = pooled_setup(api, rng, text)
    probe = with_similarity(base, 0.86, rng)
    assert api.query(probe, threshold=0.95, query_text=text, max_error_rate=0.05, cache_scope="b")[1] == {
        "hit": False}
    hit = api.query(probe, threshold=0.95, query_text=text, max_error_rate=0.05, cache_scope="a")[1]
    assert hit["hit"] and hit["decided_by"] == "error_bound", hit
