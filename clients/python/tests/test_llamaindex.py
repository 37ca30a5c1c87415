"""ferrocache.llamaindex.FerrocacheLLM with llama-index-core, a real node and the fake LLM."""
from __future__ import annotations

from llama_index.core.base.llms.types import ChatMessage

from ferrocache.llamaindex import FerrocacheLLM
from remote_llama import RemoteLlamaLLM

ROUTE = "/v1/chat/completions"


def wrapped(fake_llm, url: str, embed, **kw) -> FerrocacheLLM:
    inner_kw = {k: kw.pop(k) for k in ("model", "temperature") if k in kw}
    return FerrocacheLLM(RemoteLlamaLLM(base_url=fake_llm.url, **inner_kw), cache_url=url, embed_fn=embed, **kw)


def test_complete_miss_then_hit(fake_llm, node, embed, scope: str) -> None:
    llm = wrapped(fake_llm, node.url, embed, cache_scope=scope)
    before = fake_llm.count(ROUTE)
    first = llm.complete("What is a vector index?")
    second = llm.complete("what is a vector index")
    assert (first._ferrocache_hit, second._ferrocache_hit) == (False, True)
    assert second.text == first.text and fake_llm.count(ROUTE) - before == 1
    assert llm.metadata.model_name == "gpt-test"


def test_chat_miss_hit_and_system_prompt(fake_llm, node, embed, scope: str) -> None:
    llm = wrapped(fake_llm, node.url, embed, cache_scope=scope)
    msgs = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Define RAG")]
    first = llm.chat(msgs)
    second = llm.chat(msgs)
    assert (first._ferrocache_hit, second._ferrocache_hit) == (False, True)
    assert second.message.content == first.message.content and second.message.role.value == "assistant"
    other_system = [ChatMessage(role="system", content="Be verbose."), msgs[1]]
    assert llm.chat(other_system)._ferrocache_hit is False


def test_inner_settings_are_part_of_the_key(fake_llm, node, embed, scope: str) -> None:
    a = wrapped(fake_llm, node.url, embed, cache_scope=scope)
    b = wrapped(fake_llm, node.url, embed, cache_scope=scope, temperature=0.8)
    c = wrapped(fake_llm, node.url, embed, cache_scope=scope, model="gpt-other")
    a.complete("settings question")
    assert a.complete("settings question")._ferrocache_hit is True
    assert b.complete("settings question")._ferrocache_hit is False
    assert c.complete("settings question")._ferrocache_hit is False


def test_stream_complete_stores_and_replays(fake_llm, node, embed, scope: str) -> None:
    llm = wrapped(fake_llm, node.url, embed, cache_scope=scope)
    live = list(llm.stream_complete("stream this please"))
    assert len(live) > 1 and live[-1]._ferrocache_hit is False
    replay = list(llm.stream_complete("stream this please"))
    assert len(replay) == 1 and replay[0].text == live[-1].text and replay[0]._ferrocache_hit is True


async def test_async_complete_and_chat(fake_llm, node, embed, scope: str) -> None:
    llm = wrapped(fake_llm, node.url, embed, cache_scope=scope)
    before = fake_llm.count(ROUTE)
    r1 = await llm.acomplete("async llama question")
    r2 = await llm.acomplete("Async llama question!")
    assert (r1._ferrocache_hit, r2._ferrocache_hit) == (False, True) and r1.text == r2.text
    msgs = [ChatMessage(role="user", content="async llama chat")]
    c1 = await llm.achat(msgs)
    c2 = await llm.achat(msgs)
    assert (c1._ferrocache_hit, c2._ferrocache_hit) == (False, True)
    assert c1.message.content == c2.message.content
    assert fake_llm.count(ROUTE) - before == 2
    chunks = [r async for r in await llm.astream_complete("async llama question")]
    assert len(chunks) == 1 and chunks[0]._ferrocache_hit is True


def test_scope_isolation_and_fail_open(fake_llm, node, dead_url, embed, scope: str) -> None:
    a = wrapped(fake_llm, node.url, embed, cache_scope=scope + "-a")
    b = wrapped(fake_llm, node.url, embed, cache_scope=scope + "-b")
    a.complete("scoped llama")
    assert b.complete("scoped llama")._ferrocache_hit is False
    down = wrapped(fake_llm, dead_url, embed)
    reply = down.complete("scoped llama")
    assert reply._ferrocache_hit is None and reply.text.startswith("answer #")
