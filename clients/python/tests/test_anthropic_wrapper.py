"""wrap_anthropic with the real anthropic SDK, a real ferrocache node and a local fake LLM server."""
from __future__ import annotations

from typing import Any, Dict, List

import anthropic
import pytest

from ferrocache import FerrocacheError
from ferrocache.middleware import wrap_anthropic

ROUTE = "/v1/messages"


def ask(text: str) -> List[Dict[str, Any]]:
    return [{"role": "user", "content": text}]


def client(fake_llm, url: str, embed, **kw: Any) -> anthropic.Anthropic:
    sdk = anthropic.Anthropic(base_url=fake_llm.url, api_key="sk-ant-test", max_retries=0)
    return wrap_anthropic(sdk, cache_url=url, embed_fn=embed, **kw)


def aclient(fake_llm, url: str, embed, **kw: Any) -> anthropic.AsyncAnthropic:
    sdk = anthropic.AsyncAnthropic(base_url=fake_llm.url, api_key="sk-ant-test", max_retries=0)
    return wrap_anthropic(sdk, cache_url=url, embed_fn=embed, **kw)


def text_of(message: Any) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


def test_miss_then_hit(fake_llm, node, embed, scope: str) -> None:
    c = client(fake_llm, node.url, embed, cache_scope=scope)
    before = fake_llm.count(ROUTE)
    first = c.messages.create(model="claude-test", max_tokens=100, system="Be brief.",
                              messages=ask("Why is the sky blue?"))
    assert first._ferrocache_hit is False
    second = c.messages.create(model="claude-test", max_tokens=100, system="Be brief.",
                               messages=ask("why is the sky blue"))
    assert second._ferrocache_hit is True and second._ferrocache_similarity == pytest.approx(1.0)
    assert isinstance(second, anthropic.types.Message) and text_of(second) == text_of(first)
    assert second.usage.output_tokens == first.usage.output_tokens
    assert fake_llm.count(ROUTE) - before == 1


def test_different_system_model_or_params_miss(fake_llm, node, embed, scope: str) -> None:
    c = client(fake_llm, node.url, embed, cache_scope=scope)
    base = dict(model="claude-test", max_tokens=100, system="Be brief.", messages=ask("Explain tides"))
    c.messages.create(**base)
    assert c.messages.create(**base)._ferrocache_hit is True
    for kwargs in (dict(base, system="Be thorough."), dict(base, model="claude-other"), dict(base, max_tokens=101),
                   dict(base, extra_body={"temperature": 1.0}), dict(base, stop_sequences=["END"]),
                   dict(base, tools=[{"name": "t", "input_schema": {"type": "object"}}])):
        assert c.messages.create(**kwargs)._ferrocache_hit is False, kwargs


def test_streamed_miss_stored_and_hit_replayed(fake_llm, node, embed, scope: str) -> None:
    c = client(fake_llm, node.url, embed, cache_scope=scope)
    before = fake_llm.count(ROUTE)
    stream = c.messages.create(model="claude-test", max_tokens=100, messages=ask("stream a haiku"), stream=True)
    assert stream._ferrocache_hit is False
    events = list(stream)
    live = "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
    assert live.startswith("answer #")

    replay = c.messages.create(model="claude-test", max_tokens=100, messages=ask("stream a haiku"), stream=True)
    assert replay._ferrocache_hit is True
    again = list(replay)
    assert [e.type for e in again] == ["message_start", "content_block_start", "content_block_delta",
                                       "content_block_stop", "message_delta", "message_stop"]
    assert again[2].delta.text == live and again[4].delta.stop_reason == "end_turn"
    whole = c.messages.create(model="claude-test", max_tokens=100, messages=ask("stream a haiku"))
    assert whole._ferrocache_hit is True and text_of(whole) == live
    assert fake_llm.count(ROUTE) - before == 1


def test_tool_use_round_trips_through_stream(fake_llm, node, embed, scope: str) -> None:
    c = client(fake_llm, node.url, embed, cache_scope=scope)
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    live = list(c.messages.create(model="claude-test", max_tokens=100, messages=ask("now use the tool"),
                                  tools=tools, stream=True))
    assert any(e.type == "content_block_delta" and e.delta.type == "input_json_delta" for e in live)
    whole = c.messages.create(model="claude-test", max_tokens=100, messages=ask("now use the tool"), tools=tools)
    assert whole._ferrocache_hit is True and whole.stop_reason == "tool_use"
    tool = [b for b in whole.content if b.type == "tool_use"][0]
    assert tool.name == "lookup" and isinstance(tool.input, dict) and "n" in tool.input
    replay = list(c.messages.create(model="claude-test", max_tokens=100, messages=ask("now use the tool"),
                                    tools=tools, stream=True))
    partial = "".join(e.delta.partial_json for e in replay
                      if e.type == "content_block_delta" and e.delta.type == "input_json_delta")
    assert partial.replace(" ", "") == '{"n":%d}' % tool.input["n"]


def test_scope_isolation(fake_llm, node, embed, scope: str) -> None:
    a = client(fake_llm, node.url, embed, cache_scope=scope + "-a")
    b = client(fake_llm, node.url, embed, cache_scope=scope + "-b")
    a.messages.create(model="claude-test", max_tokens=10, messages=ask("isolated"))
    assert b.messages.create(model="claude-test", max_tokens=10, messages=ask("isolated"))._ferrocache_hit is False
    assert a.messages.create(model="claude-test", max_tokens=10, messages=ask("isolated"))._ferrocache_hit is True


def test_fail_open_when_cache_is_killed(fake_llm, own_node, embed) -> None:
    c = client(fake_llm, own_node.url, embed)
    c.messages.create(model="claude-test", max_tokens=10, messages=ask("outage question"))
    own_node.kill()
    reply = c.messages.create(model="claude-test", max_tokens=10, messages=ask("outage question"))
    assert reply._ferrocache_hit is None and text_of(reply).startswith("answer #")


def test_fail_closed_raises(fake_llm, dead_url, embed) -> None:
    c = client(fake_llm, dead_url, embed, fail_open=False)
    with pytest.raises(FerrocacheError):
        c.messages.create(model="claude-test", max_tokens=10, messages=ask("x"))


async def test_async_hit_miss_stream(fake_llm, node, embed, scope: str) -> None:
    c = aclient(fake_llm, node.url, embed, cache_scope=scope)
    first = await c.messages.create(model="claude-test", max_tokens=50, messages=ask("async anthropic"))
    second = await c.messages.create(model="claude-test", max_tokens=50, messages=ask("Async Anthropic!"))
    assert (first._ferrocache_hit, second._ferrocache_hit) == (False, True)
    assert text_of(first) == text_of(second)
    stream = await c.messages.create(model="claude-test", max_tokens=50, messages=ask("async stream"), stream=True)
    live = [e async for e in stream]
    replay = await c.messages.create(model="claude-test", max_tokens=50, messages=ask("async stream"), stream=True)
    assert replay._ferrocache_hit is True
    async with replay:
        again = [e async for e in replay]
    assert again[-1].type == "message_stop" and len(live) > len(again)


async def test_async_fail_open(fake_llm, dead_url, embed) -> None:
    c = aclient(fake_llm, dead_url, embed)
    reply = await c.messages.create(model="claude-test", max_tokens=10, messages=ask("x"))
    assert reply._ferrocache_hit is None
