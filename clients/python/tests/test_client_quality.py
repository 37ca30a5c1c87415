"""Answer-quality arguments of the client and of every integration (docs/quality.md): ``check``,
``max_error_rate``, ``feedback`` and the middleware's ``verify_rate`` + judge. A real node, the real
SDKs and the local fake LLM server, as in the other integration tests."""
from __future__ import annotations

from typing import Any, Dict, List

import anthropic
import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from llama_index.core.base.llms.types import ChatMessage

from ferrocache import AsyncFerrocacheClient, FerrocacheClient, FerrocacheError
from ferrocache.langchain import FerrocacheCache
from ferrocache.llamaindex import FerrocacheLLM
from ferrocache.middleware import cache_of, wrap_anthropic, wrap_openai
from remote_langchain import RemoteChatModel
from remote_llama import RemoteLlamaLLM

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"
Q2023 = "What is the capital gains tax rate for 2023?"
Q2024 = "What is the capital gains tax rate for 2024?"


def namespace_stats(url: str, scope: str) -> Dict[str, Any]:
    stats = FerrocacheClient(url).stats()["namespaces"]
    return next(v for k, v in stats.items() if k.endswith("::" + scope))


def test_client_quality_arguments_and_feedback(node, embed, scope: str) -> None:
    c = FerrocacheClient(node.url)
    vec = embed(Q2023)
    entry = c.insert(vec, "20%", Q2023, "m::64", cache_scope=scope)["id"]
    near = embed(Q2024)
    hit = c.query(near, threshold=0.5, model_id="m::64", query_text=Q2024, cache_scope=scope)
    assert hit["hit"] and hit["matched_query_text"] == Q2023 and hit["decided_by"] == "threshold"
    assert c.query(near, threshold=0.5, model_id="m::64", query_text=Q2024, cache_scope=scope,
                   check="strict") == {"hit": False}
    assert c.query(near, threshold=0.5, model_id="m::64", query_text=Q2024, cache_scope=scope,
                   max_error_rate=0.05)["decided_by"] == "threshold"  # no feedback yet
    assert c.feedback(entry, "m::64", hit["similarity"], False, query_text=Q2024, cache_scope=scope) == \
        {"status": "ok"}
    assert namespace_stats(node.url, scope)["quality"]["classes"]["conflict"]["wrong"] == 1
    with pytest.raises(FerrocacheError) as err:
        c.feedback("no-such-id", "m::64", 0.9, True, cache_scope=scope)
    assert err.value.status == 404
    for bad in (dict(max_error_rate=0), dict(max_error_rate=0.7), dict(max_error_rate=True), dict(check="loose")):
        with pytest.raises(ValueError):
            c.query(near, model_id="m::64", **bad)
    with pytest.raises(ValueError):
        c.feedback(entry, "m::64", 1.5, True)
    with pytest.raises(ValueError):
        c.feedback(entry, "m::64", 0.9, "yes")  # type: ignore[arg-type]


async def test_async_client_quality_arguments_and_feedback(node, embed, scope: str) -> None:
    c = AsyncFerrocacheClient(node.url)
    entry = (await c.insert(embed(Q2023), "20%", Q2023, "m::64", cache_scope=scope))["id"]
    assert await c.query(embed(Q2024), threshold=0.5, model_id="m::64", query_text=Q2024, cache_scope=scope,
                         check="strict") == {"hit": False}
    hit = await c.query(embed(Q2024), threshold=0.5, model_id="m::64", query_text=Q2024, cache_scope=scope,
                        max_error_rate=0.1, check="off")
    assert hit["hit"] and hit["id"] == entry
    assert await c.feedback(entry, "m::64", hit["similarity"], True, query_text=Q2024, cache_scope=scope) == \
        {"status": "ok"}
    c.close()


def openai_client(fake_llm, url: str, embed, **kw: Any) -> openai.OpenAI:
    sdk = openai.OpenAI(base_url=fake_llm.url + "/v1", api_key="sk-test", max_retries=0)
    return wrap_openai(sdk, cache_url=url, embed_fn=embed, **kw)


def ask(text: str) -> List[Dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_openai_strict_check_and_max_error_rate(fake_llm, node, embed, scope: str) -> None:
    loose = openai_client(fake_llm, node.url, embed, cache_scope=scope, threshold=0.5)
    strict = openai_client(fake_llm, node.url, embed, cache_scope=scope, threshold=0.5, check="strict",
                           max_error_rate=0.05)
    assert cache_of(strict).check == "strict" and cache_of(strict).max_error_rate == 0.05
    before = fake_llm.count(OPENAI)
    loose.chat.completions.create(model="gpt-test", messages=ask(Q2023))
    assert loose.chat.completions.create(model="gpt-test", messages=ask(Q2024))._ferrocache_hit is True
    assert strict.chat.completions.create(model="gpt-test", messages=ask(Q2024))._ferrocache_hit is False
    assert fake_llm.count(OPENAI) - before == 2
    with pytest.raises(ValueError):
        openai_client(fake_llm, node.url, embed, max_error_rate=0.9)
    with pytest.raises(ValueError):
        openai_client(fake_llm, node.url, embed, verify_rate=0.5)  # no judge


def test_openai_verify_rate_judges_hits_and_posts_feedback(fake_llm, node, embed, scope: str) -> None:
    seen: List[Any] = []

    def judge(query: str, cached: Any, fresh: Any) -> bool:
        seen.append((query, cached.choices[0].message.content, fresh.choices[0].message.content))
        return len(seen) % 2 == 1  # right, wrong, right, ...

    c = openai_client(fake_llm, node.url, embed, cache_scope=scope, verify_rate=1.0, judge=judge, verify_seed=3)
    c.chat.completions.create(model="gpt-test", messages=ask("Why is the sky blue?"))
    before = fake_llm.count(OPENAI)
    right = c.chat.completions.create(model="gpt-test", messages=ask("why is the sky blue"))
    assert right._ferrocache_hit is True
    wrong = c.chat.completions.create(model="gpt-test", messages=ask("why is the sky blue"))
    assert wrong._ferrocache_hit is False  # the judge refused the cached answer: the fresh one is served
    assert fake_llm.count(OPENAI) - before == 2  # one fresh answer per verified hit
    assert [q for q, _, _ in seen] == ["why is the sky blue"] * 2
    q = namespace_stats(node.url, scope)["quality"]
    assert q["feedback_total"] == 2
    assert sum(cls["wrong"] for cls in q["classes"].values()) == 1


async def test_openai_async_verify_with_an_async_judge(fake_llm, node, embed, scope: str) -> None:
    async def judge(query: str, cached: Any, fresh: Any) -> bool:
        return True

    sdk = openai.AsyncOpenAI(base_url=fake_llm.url + "/v1", api_key="sk-test", max_retries=0)
    c = wrap_openai(sdk, cache_url=node.url, embed_fn=embed, cache_scope=scope, verify_rate=1.0, judge=judge,
                    check="strict")
    await c.chat.completions.create(model="gpt-test", messages=ask("Define entropy"))
    hit = await c.chat.completions.create(model="gpt-test", messages=ask("define entropy"))
    assert hit._ferrocache_hit is True
    assert namespace_stats(node.url, scope)["quality"]["feedback_total"] == 1


def test_anthropic_strict_check_and_verify(fake_llm, node, embed, scope: str) -> None:
    verdicts: List[bool] = []

    def judge(query: str, cached: Any, fresh: Any) -> bool:
        verdicts.append(True)
        return True

    sdk = anthropic.Anthropic(base_url=fake_llm.url, api_key="sk-ant-test", max_retries=0)
    c = wrap_anthropic(sdk, cache_url=node.url, embed_fn=embed, cache_scope=scope, threshold=0.5, check="strict",
                       max_error_rate=0.1, verify_rate=1.0, judge=judge)
    before = fake_llm.count(ANTHROPIC)
    c.messages.create(model="claude-test", max_tokens=50, messages=ask(Q2023))
    assert c.messages.create(model="claude-test", max_tokens=50, messages=ask(Q2024))._ferrocache_hit is False
    assert c.messages.create(model="claude-test", max_tokens=50, messages=ask(Q2023.lower()))._ferrocache_hit
    assert fake_llm.count(ANTHROPIC) - before == 3  # miss, refused by the check, verified hit
    assert verdicts == [True]
    assert namespace_stats(node.url, scope)["quality"]["feedback_total"] == 1


def test_langchain_cache_passes_quality_arguments(fake_llm, node, embed, scope: str) -> None:
    cache = FerrocacheCache(cache_url=node.url, embed_fn=embed, cache_scope=scope, threshold=0.5, check="strict",
                            max_error_rate=0.05)
    assert cache.semantic_cache.check == "strict" and cache.semantic_cache.max_error_rate == 0.05
    model = RemoteChatModel(base_url=fake_llm.url, cache=cache)
    before = fake_llm.count(OPENAI)
    model.invoke([SystemMessage("Be brief."), HumanMessage(Q2023)])
    model.invoke([SystemMessage("Be brief."), HumanMessage(Q2024)])  # refused by the check
    model.invoke([SystemMessage("Be brief."), HumanMessage(Q2023)])  # exact: a hit
    assert fake_llm.count(OPENAI) - before == 2


def test_llamaindex_passes_quality_arguments(fake_llm, node, embed, scope: str) -> None:
    llm = FerrocacheLLM(RemoteLlamaLLM(base_url=fake_llm.url), cache_url=node.url, embed_fn=embed,
                        cache_scope=scope, threshold=0.5, check="strict", max_error_rate=0.05)
    first = llm.chat([ChatMessage(role="user", content=Q2023)])
    changed = llm.chat([ChatMessage(role="user", content=Q2024)])
    same = llm.chat([ChatMessage(role="user", content=Q2023)])
    assert (first._ferrocache_hit, changed._ferrocache_hit, same._ferrocache_hit) == (False, False, True)
