"""FerrocacheClient and AsyncFerrocacheClient against a real ferrocache node."""
from __future__ import annotations

import asyncio
import threading
import uuid
from typing import List

import pytest

from conftest import AUTH_TOKEN
from ferrocache import AsyncFerrocacheClient, FerrocacheClient, FerrocacheError
from ferrocache.embeddings import HashEmbedder

E = HashEmbedder(32)
MODEL = "hash::32"


def test_insert_query_hit_and_miss(node, scope: str) -> None:
    with FerrocacheClient(node.url) as c:
        ins = c.insert(E("what is the capital of france"), "Paris", "What is the capital of France?", MODEL,
                       cache_scope=scope)
        assert ins["status"] == "ok" and ins["id"]
        hit = c.query(E("capital of france what is the"), threshold=0.9, model_id=MODEL, cache_scope=scope)
        assert hit["hit"] is True and hit["response"] == "Paris" and hit["id"] == ins["id"]
        assert hit["similarity"] >= 0.9 and hit["exact_match"] is False
        assert c.query(E("how tall is mount everest"), threshold=0.9, model_id=MODEL, cache_scope=scope) == \
            {"hit": False}


def test_exact_text_match_ignores_threshold(node, scope: str) -> None:
    with FerrocacheClient(node.url) as c:
        c.insert(E("alpha beta"), "AB", "Alpha   BETA", MODEL, cache_scope=scope)
        hit = c.query(E("gamma delta"), threshold=1.0, model_id=MODEL, query_text="alpha beta", cache_scope=scope)
        assert hit["hit"] is True and hit["exact_match"] is True and hit["similarity"] == 1.0


def test_client_chosen_uuid_delete_and_404(node, scope: str) -> None:
    entry = f"client-{uuid.uuid4()}"
    with FerrocacheClient(node.url) as c:
        assert c.insert(E("delete me"), "x", "delete me", MODEL, uuid=entry, cache_scope=scope)["id"] == entry
        assert c.delete_entry(entry) == {"deleted": True}
        assert c.query(E("delete me"), model_id=MODEL, cache_scope=scope) == {"hit": False}
        with pytest.raises(FerrocacheError) as info:
            c.delete_entry(entry)
        assert info.value.status == 404 and info.value.message


def test_invalidate_radius(node, scope: str) -> None:
    with FerrocacheClient(node.url) as c:
        a = c.insert(E("red apple pie"), "1", "red apple pie", MODEL, cache_scope=scope)["id"]
        c.insert(E("quantum chromodynamics lecture"), "2", "qcd", MODEL, cache_scope=scope)
        out = c.invalidate(E("red apple pie"), 0.99, MODEL, cache_scope=scope)
        assert out["invalidated_count"] == 1 and out["uuids"] == [a]
        assert c.invalidate(E("anything"), 0.5, "never-used::32", cache_scope=scope)["invalidated_count"] == 0


def test_scopes_and_conversations(node, scope: str) -> None:
    with FerrocacheClient(node.url) as c:
        c.insert(E("shared question"), "global", "shared question", MODEL, cache_scope=scope)
        c.insert(E("private question"), "conv", "private question", MODEL, cache_scope=scope, conversation_id="c1")
        assert c.query(E("shared question"), model_id=MODEL, cache_scope=scope + "-other") == {"hit": False}
        assert c.query(E("private question"), model_id=MODEL, cache_scope=scope) == {"hit": False}
        conv = c.query(E("private question"), model_id=MODEL, cache_scope=scope, conversation_id="c1")
        assert conv["hit"] and conv["scope"] == "conversation" and conv["response"] == "conv"
        fallback = c.query(E("shared question"), model_id=MODEL, cache_scope=scope, conversation_id="c1")
        assert fallback["hit"] and fallback["scope"] == "global"


def test_dimension_mismatch_is_400(node, scope: str) -> None:
    with FerrocacheClient(node.url) as c:
        c.insert(E("dims"), "x", "dims", MODEL, cache_scope=scope)
        with pytest.raises(FerrocacheError) as info:
            c.query([1.0, 0.0, 0.0], model_id=MODEL, cache_scope=scope)
        assert info.value.status == 400


def test_admin_and_observability_routes(node, scope: str) -> None:
    with FerrocacheClient(node.url) as c:
        c.insert(E("observed question"), "x", "observed question", MODEL, cache_scope=scope)
        c.query(E("observed question"), model_id=MODEL, cache_scope=scope)
        health = c.health()
        assert health["status"] == "ok" and health["entry_count"] >= 1 and "node_id" in health
        stats = c.stats()
        assert stats["namespaces"][f"{MODEL}::{scope}"]["dimension"] == 32
        assert stats["counters"]["queries_hit"] >= 1
        assert c.entry_stats()["namespaces"][f"{MODEL}::{scope}"]["top_entries"][0]["access_count"] >= 1
        cluster = c.cluster_status()
        assert cluster["mode"] == "single" and cluster["nodes"] == [cluster["self_node_id"]]
        compact = c.compact()
        assert compact["status"] == "ok" and compact["entries_snapshotted"] >= 1
        assert "ferrocache_" in c.metrics()


def test_auth_from_argument_env_and_401(auth_node, monkeypatch: pytest.MonkeyPatch) -> None:
    with FerrocacheClient(auth_node.url) as c:
        assert c.health()["status"] == "ok"  # always open
        with pytest.raises(FerrocacheError) as info:
            c.stats()
        assert info.value.status == 401 and info.value.message == "unauthorized"
    with FerrocacheClient(auth_node.url, auth_token=AUTH_TOKEN) as c:
        assert "counters" in c.stats()
    monkeypatch.setenv("FERROCACHE_AUTH_TOKEN", AUTH_TOKEN)
    with FerrocacheClient(auth_node.url) as c:
        assert "counters" in c.stats()


def test_url_from_environment(node, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERROCACHE_URL", node.url)
    with FerrocacheClient() as c:
        assert c.health()["status"] == "ok"


def test_one_client_shared_by_threads(node, scope: str) -> None:
    errors: List[BaseException] = []
    with FerrocacheClient(node.url) as c:
        def work(i: int) -> None:
            try:
                for j in range(10):
                    text = f"thread {i} item {j}"
                    c.insert(E(text), text, text, MODEL, cache_scope=scope)
                    hit = c.query(E(text), threshold=0.99, model_id=MODEL, query_text=text, cache_scope=scope)
                    assert hit["hit"] and hit["response"] == text
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        assert c.stats()["namespaces"][f"{MODEL}::{scope}"]["entry_count"] == 60


async def test_async_client_full_cycle(node, scope: str) -> None:
    async with AsyncFerrocacheClient(node.url) as c:
        ins = await c.insert(E("async question"), "async answer", "async question", MODEL, cache_scope=scope,
                             ttl_seconds=0)
        hit = await c.query(E("async question"), model_id=MODEL, cache_scope=scope)
        assert hit["hit"] and hit["response"] == "async answer"
        results = await asyncio.gather(*(c.query(E("async question"), model_id=MODEL, cache_scope=scope)
                                         for _ in range(10)))
        assert all(r["hit"] for r in results)
        assert (await c.invalidate(E("async question"), 0.99, MODEL, cache_scope=scope))["invalidated_count"] == 1
        with pytest.raises(FerrocacheError) as info:
            await c.delete_entry(ins["id"])
        assert info.value.status == 404
        assert (await c.health())["status"] == "ok"
        assert "namespaces" in await c.stats()
        assert "namespaces" in await c.entry_stats()
        assert (await c.cluster_status())["mode"] == "single"
        assert (await c.compact())["status"] == "ok"
        assert "ferrocache_" in await c.metrics()


async def test_async_auth(auth_node) -> None:
    async with AsyncFerrocacheClient(auth_node.url) as c:
        with pytest.raises(FerrocacheError) as info:
            await c.stats()
        assert info.value.status == 401
    async with AsyncFerrocacheClient(auth_node.url, auth_token=AUTH_TOKEN) as c:
        assert "counters" in await c.stats()
