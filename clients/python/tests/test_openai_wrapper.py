"""wrap_openai with the real openai SDK, a real ferrocache node and a local fake LLM server."""
from __future__ import annotations

import logging
from typing import Any, Dict, List

import openai
import pytest

from ferrocache import FerrocacheClient, FerrocacheError
from ferrocache.middleware import cache_of, wrap_openai

SYSTEM = {"role": "system", "content": "You are terse."}


def ask(text: str, system: Dict[str, str] = SYSTEM) -> List[Dict[str, str]]:
    return [system, {"role": "user", "content": text}]


def client(fake_llm, node_url: str, embed, **kw: Any) -> openai.OpenAI:
    sdk = openai.OpenAI(base_url=fake_llm.url + "/v1", api_key="sk-test", max_retries=0)
    return wrap_openai(sdk, cache_url=node_url, embed_fn=embed, **kw)


def aclient(fake_llm, node_url: str, embed, **kw: Any) -> openai.AsyncOpenAI:
    sdk = openai.AsyncOpenAI(base_url=fake_llm.url + "/v1", api_key="sk-test", max_retries=0)
    return wrap_openai(sdk, cache_url=node_url, embed_fn=embed, **kw)


ROUTE = "/v1/chat/completions"


def test_miss_then_hit(fake_llm, node, embed, scope: str) -> None:
    c = client(fake_llm, node.url, embed, cache_scope=scope)
    before = fake_llm.count(ROUTE)
    first = c.chat.completions.create(model="gpt-test", messages=ask("What is the capital of France?"))
    assert first._ferrocache_hit is False and first._ferrocache_similarity is None
    second = c.chat.completions.create(model="gpt-test", messages=ask("what is the capital of france"))
    assert second._ferrocache_hit is True and second._ferrocache_similarity == pytest.approx(1.0)
    assert isinstance(second, openai.types.chat.ChatCompletion)
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.id == first.id and second.usage.total_tokens == first.usage.total_tokens
    assert fake_llm.count(ROUTE) - before == 1


def test_paraphrase_hits_above_threshold_only(fake_llm, node, embed, scope: str) -> None:
    c = client(fake_llm, node.url, embed, cache_scope=scope, threshold=0.6)
    c.chat.completions.create(model="gpt-test", messages=ask("What is the capital of France?"))
    # 4 of 6 words shared: cosine 0.67 with the hash embedder
    near = c.chat.completions.create(model="gpt-test", messages=ask("Tell me the capital of France"))
    assert near._ferrocache_hit is True and 0.6 <= near._ferrocache_similarity < 1.0
    strict = client(fake_llm, node.url, embed, cache_scope=scope, threshold=0.9)
    far = strict.chat.completions.create(model="gpt-test", messages=ask("Tell me the capital of France!"))
    assert far._ferrocache_hit is False


def test_answers_are_never_shared_across_call_settings(fake_llm, node, embed, scope: str) -> None:
    c = client(fake_llm, node.url, embed, cache_scope=scope)
    q = "Name a prime number"
    base = dict(model="gpt-test", messages=ask(q), temperature=0.0, max_tokens=50)
    assert c.chat.completions.create(**base)._ferrocache_hit is False
    assert c.chat.completions.create(**base)._ferrocache_hit is True
    variants = [
        dict(base, model="gpt-other"),
        dict(base, messages=ask(q, {"role": "system", "content": "You are verbose."})),
        dict(base, temperature=0.9),
        dict(base, max_tokens=51),
        dict(base, tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]),
        dict(base, messages=[{"role": "user", "content": "earlier turn"}, {"role": "assistant", "content": "ok"},
                             {"role": "user", "content": q}]),
    ]
    for kwargs in variants:
        assert c.chat.completions.create(**kwargs)._ferrocache_hit is False, kwargs
    # per-request metadata does not change the answer: still a hit
    assert c.chat.completions.create(**base, user="someone", metadata={"k": "v"})._ferrocache_hit is True


def test_scope_isolation(fake_llm, node, embed, scope: str) -> None:
    a = client(fake_llm, node.url, embed, cache_scope=scope + "-a")
    b = client(fake_llm, node.url, embed, cache_scope=scope + "-b")
    a.chat.completions.create(model="gpt-test", messages=ask("tenant secret question"))
    assert a.chat.completions.create(model="gpt-test", messages=ask("tenant secret question"))._ferrocache_hit
    assert b.chat.completions.create(model="gpt-test", messages=ask("tenant secret question"))._ferrocache_hit \
        is False
    # per-call scope override
    other = a.chat.completions.create(model="gpt-test", messages=ask("tenant secret question"),
                                      ferrocache_cache_scope=scope + "-b")
    assert other._ferrocache_hit is True


def test_conversation_id_passes_through(fake_llm, node, embed, scope: str) -> None:
    conv = client(fake_llm, node.url, embed, cache_scope=scope, conversation_id="conv-1")
    conv.chat.completions.create(model="gpt-test", messages=ask("conversation question"))
    plain = client(fake_llm, node.url, embed, cache_scope=scope)
    assert plain.chat.completions.create(model="gpt-test", messages=ask("conversation question"))._ferrocache_hit \
        is False
    assert conv.chat.completions.create(model="gpt-test", messages=ask("conversation question"))._ferrocache_hit
    with FerrocacheClient(node.url) as fc:
        names = list(fc.stats()["namespaces"])
    assert any(n.endswith(f"::{scope}::conv_conv-1") for n in names)


def test_streamed_miss_is_stored_and_replayed_as_stream(fake_llm, node, embed, scope: str) -> None:
    c = client(fake_llm, node.url, embed, cache_scope=scope)
    before = fake_llm.count(ROUTE)
    stream = c.chat.completions.create(model="gpt-test", messages=ask("stream me a story"), stream=True,
                                       stream_options={"include_usage": True})
    assert stream._ferrocache_hit is False
    chunks = list(stream)
    live_text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert len(chunks) > 3 and live_text.startswith("answer #")

    replay = c.chat.completions.create(model="gpt-test", messages=ask("stream me a story"), stream=True,
                                       stream_options={"include_usage": True})
    assert replay._ferrocache_hit is True
    with replay:
        again = list(replay)
    assert all(isinstance(ch, openai.types.chat.ChatCompletionChunk) for ch in again)
    assert "".join(ch.choices[0].delta.content or "" for ch in again if ch.choices) == live_text
    assert again[-1].usage is not None and again[-1].usage.total_tokens == 12
    # the same entry serves a non-streaming call
    whole = c.chat.completions.create(model="gpt-test", messages=ask("stream me a story"))
    assert whole._ferrocache_hit is True and whole.choices[0].message.content == live_text
    assert fake_llm.count(ROUTE) - before == 1


def test_stream_closed_early_is_not_stored(fake_llm, node, embed, scope: str) -> None:
    c = client(fake_llm, node.url, embed, cache_scope=scope)
    stream = c.chat.completions.create(model="gpt-test", messages=ask("half read stream"), stream=True)
    next(iter(stream))
    stream.close()
    again = c.chat.completions.create(model="gpt-test", messages=ask("half read stream"))
    assert again._ferrocache_hit is False


def test_non_streamed_answer_replays_as_stream_with_tool_calls(fake_llm, node, embed, scope: str) -> None:
    c = client(fake_llm, node.url, embed, cache_scope=scope)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    stream = c.chat.completions.create(model="gpt-test", messages=ask("please use the tool"), tools=tools,
                                       stream=True)
    live = list(stream)
    args = "".join(ch.choices[0].delta.tool_calls[0].function.arguments or ""
                   for ch in live if ch.choices and ch.choices[0].delta.tool_calls)
    whole = c.chat.completions.create(model="gpt-test", messages=ask("please use the tool"), tools=tools)
    assert whole._ferrocache_hit is True
    call = whole.choices[0].message.tool_calls[0]
    assert call.function.name == "lookup" and call.function.arguments == args
    assert whole.choices[0].finish_reason == "tool_calls"


def test_fail_open_when_cache_is_stopped(fake_llm, own_node, embed, caplog) -> None:
    c = client(fake_llm, own_node.url, embed)
    assert c.chat.completions.create(model="gpt-test", messages=ask("before the outage"))._ferrocache_hit is False
    own_node.stop()
    with caplog.at_level(logging.WARNING, logger="ferrocache"):
        reply = c.chat.completions.create(model="gpt-test", messages=ask("before the outage"))
    assert reply._ferrocache_hit is None and reply.choices[0].message.content.startswith("answer #")
    assert any("continuing without the cache" in r.getMessage() for r in caplog.records)
    stream = c.chat.completions.create(model="gpt-test", messages=ask("during the outage"), stream=True)
    assert stream._ferrocache_hit is None and len(list(stream)) > 2


def test_fail_closed_raises(fake_llm, dead_url, embed) -> None:
    c = client(fake_llm, dead_url, embed, fail_open=False)
    with pytest.raises(FerrocacheError) as info:
        c.chat.completions.create(model="gpt-test", messages=ask("no cache here"))
    assert info.value.status is None


def test_uncacheable_calls_pass_through(fake_llm, node, embed, scope: str) -> None:
    c = client(fake_llm, node.url, embed, cache_scope=scope)
    tool_result = [{"role": "user", "content": "q"},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                   {"role": "tool", "tool_call_id": "c1", "content": "42"}]
    assert c.chat.completions.create(model="gpt-test", messages=tool_result)._ferrocache_hit is None
    skipped = c.chat.completions.create(model="gpt-test", messages=ask("skip me"), ferrocache_skip=True)
    assert skipped._ferrocache_hit is None


def test_generator_messages_are_materialised(fake_llm, node, embed, scope: str) -> None:
    c = client(fake_llm, node.url, embed, cache_scope=scope)
    reply = c.chat.completions.create(model="gpt-test", messages=(m for m in ask("generator question")))
    assert reply._ferrocache_hit is False and "generator question" in reply.choices[0].message.content


def test_namespace_layout(fake_llm, node, embed, scope: str) -> None:
    c = client(fake_llm, node.url, embed, cache_scope=scope, model_id="my-embedder")
    c.chat.completions.create(model="gpt-test", messages=ask("namespace layout"))
    with FerrocacheClient(node.url) as fc:
        names = [n for n in fc.stats()["namespaces"] if n.endswith("::" + scope)]
    assert len(names) == 1
    assert names[0].startswith("my-embedder::64::llm-") and len(names[0].split("::")[2]) == len("llm-") + 16
    assert cache_of(c) is not None and cache_of(c).embed_model == "my-embedder"


async def test_async_client_hit_miss_and_stream(fake_llm, node, embed, scope: str) -> None:
    c = aclient(fake_llm, node.url, embed, cache_scope=scope)
    before = fake_llm.count(ROUTE)
    first = await c.chat.completions.create(model="gpt-test", messages=ask("async capital of italy"))
    assert first._ferrocache_hit is False
    second = await c.chat.completions.create(model="gpt-test", messages=ask("Async capital of Italy?"))
    assert second._ferrocache_hit is True and second.choices[0].message.content == first.choices[0].message.content

    stream = await c.chat.completions.create(model="gpt-test", messages=ask("async stream question"), stream=True)
    assert stream._ferrocache_hit is False
    live = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
    replay = await c.chat.completions.create(model="gpt-test", messages=ask("async stream question"), stream=True)
    assert replay._ferrocache_hit is True
    async with replay:
        again = "".join([ch.choices[0].delta.content or "" async for ch in replay if ch.choices])
    assert again == live
    assert fake_llm.count(ROUTE) - before == 2


async def test_async_fail_open(fake_llm, dead_url, embed) -> None:
    c = aclient(fake_llm, dead_url, embed)
    reply = await c.chat.completions.create(model="gpt-test", messages=ask("async outage"))
    assert reply._ferrocache_hit is None and reply.choices[0].message.content.startswith("answer #")


def test_clear_removes_the_wrappers_answers_in_its_scope(fake_llm, node, embed, scope: str) -> None:
    c = client(fake_llm, node.url, embed, cache_scope=scope)
    other = client(fake_llm, node.url, embed, cache_scope=scope + "-kept")
    for q in ("first cleared question", "second cleared question"):
        c.chat.completions.create(model="gpt-test", messages=ask(q))
        c.chat.completions.create(model="gpt-test", messages=ask(q), temperature=0.5)
    other.chat.completions.create(model="gpt-test", messages=ask("first cleared question"))
    assert cache_of(c).clear() == 4
    assert c.chat.completions.create(model="gpt-test", messages=ask("first cleared question"))._ferrocache_hit \
        is False
    assert other.chat.completions.create(model="gpt-test",
                                         messages=ask("first cleared question"))._ferrocache_hit is True
