"""ferrocache.langchain.FerrocacheCache with real langchain-core models, a real node and the fake LLM."""
from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, Generation

from ferrocache import FerrocacheClient
from ferrocache.langchain import FerrocacheCache, split_prompt
from remote_langchain import RemoteChatModel, RemoteTextLLM

ROUTE = "/v1/chat/completions"


def chat_model(fake_llm, cache: FerrocacheCache, **kw) -> RemoteChatModel:
    return RemoteChatModel(base_url=fake_llm.url, cache=cache, **kw)


def test_chat_model_miss_then_hit(fake_llm, node, embed, scope: str) -> None:
    cache = FerrocacheCache(cache_url=node.url, embed_fn=embed, cache_scope=scope)
    model = chat_model(fake_llm, cache)
    before = fake_llm.count(ROUTE)
    first = model.invoke([SystemMessage("Be brief."), HumanMessage("What is LangChain?")])
    second = model.invoke([SystemMessage("Be brief."), HumanMessage("what is langchain")])
    assert second.content == first.content and isinstance(second, AIMessage)
    assert fake_llm.count(ROUTE) - before == 1


def test_llm_string_and_system_prompt_are_part_of_the_key(fake_llm, node, embed, scope: str) -> None:
    cache = FerrocacheCache(cache_url=node.url, embed_fn=embed, cache_scope=scope)
    question = [SystemMessage("Be brief."), HumanMessage("Define entropy")]
    before = fake_llm.count(ROUTE)
    chat_model(fake_llm, cache).invoke(question)
    chat_model(fake_llm, cache).invoke(question)
    assert fake_llm.count(ROUTE) - before == 1
    chat_model(fake_llm, cache, temperature=0.7).invoke(question)
    chat_model(fake_llm, cache, model="gpt-other").invoke(question)
    chat_model(fake_llm, cache).invoke([SystemMessage("Be verbose."), HumanMessage("Define entropy")])
    assert fake_llm.count(ROUTE) - before == 4


def test_text_llm_and_semantic_threshold(fake_llm, node, embed, scope: str) -> None:
    cache = FerrocacheCache(cache_url=node.url, embed_fn=embed, cache_scope=scope, threshold=0.6)
    llm = RemoteTextLLM(base_url=fake_llm.url, cache=cache)
    before = fake_llm.count(ROUTE)
    first = llm.invoke("What is the capital of France?")
    assert llm.invoke("Tell me the capital of France") == first  # cosine 0.67 >= 0.6
    assert fake_llm.count(ROUTE) - before == 1


def test_lookup_update_round_trip(node, embed, scope: str) -> None:
    cache = FerrocacheCache(cache_url=node.url, embed_fn=embed, cache_scope=scope)
    assert cache.lookup("a prompt", "llm-A") is None
    gens = [ChatGeneration(message=AIMessage("chat answer"), generation_info={"finish_reason": "stop"})]
    cache.update("a prompt", "llm-A", gens)
    got = cache.lookup("a prompt", "llm-A")
    assert got is not None and got[0].message.content == "chat answer"
    assert got[0].generation_info == {"finish_reason": "stop"}
    assert cache.lookup("a prompt", "llm-B") is None
    cache.update("plain", "llm-A", [Generation(text="t1"), Generation(text="t2")])
    assert [g.text for g in cache.lookup("plain", "llm-A")] == ["t1", "t2"]


def test_clear_really_clears_its_scope_only(fake_llm, node, embed, scope: str) -> None:
    mine = FerrocacheCache(cache_url=node.url, embed_fn=embed, cache_scope=scope)
    other = FerrocacheCache(cache_url=node.url, embed_fn=embed, cache_scope=scope + "-other")
    for i in range(5):
        mine.update(f"question number {i}", "llm-A", [Generation(text=f"a{i}")])
        mine.update(f"question number {i}", "llm-B", [Generation(text=f"b{i}")])
    other.update("question number 0", "llm-A", [Generation(text="kept")])
    # a fresh instance (another process, say) clears what the first stored
    FerrocacheCache(cache_url=node.url, embed_fn=embed, cache_scope=scope).clear()
    for i in range(5):
        assert mine.lookup(f"question number {i}", "llm-A") is None
        assert mine.lookup(f"question number {i}", "llm-B") is None
    assert other.lookup("question number 0", "llm-A")[0].text == "kept"
    with FerrocacheClient(node.url) as c:
        left = {name: ns["entry_count"] for name, ns in c.stats()["namespaces"].items()
                if name.endswith("::" + scope)}
    assert sum(left.values()) == 0


def test_clear_removes_vectors_on_both_sides_of_the_probe(node, scope: str) -> None:
    """Entries whose cosine with the probe is negative are removed too."""
    vectors = {"pos": [1.0, 0.2, 0.0, 0.0], "neg": [-1.0, 0.3, 0.0, 0.0], "orth": [0.0, 1.0, 0.0, 0.0],
               "mixed": [-0.5, -0.5, 0.5, -0.5]}
    cache = FerrocacheCache(cache_url=node.url, embed_fn=lambda text: vectors[text], model_id="vec",
                            cache_scope=scope)
    for name in vectors:
        cache.update(name, "llm", [Generation(text=name)])
    assert all(cache.lookup(name, "llm") is not None for name in vectors)
    cache.clear()
    assert all(cache.lookup(name, "llm") is None for name in vectors)


async def test_async_lookup_update_and_clear(fake_llm, node, embed, scope: str) -> None:
    cache = FerrocacheCache(cache_url=node.url, embed_fn=embed, cache_scope=scope)
    model = chat_model(fake_llm, cache)
    before = fake_llm.count(ROUTE)
    first = await model.ainvoke("async langchain question")
    second = await model.ainvoke("Async LangChain question?")
    assert first.content == second.content and fake_llm.count(ROUTE) - before == 1
    await cache.aclear()
    assert await cache.alookup("anything", "llm") is None
    await model.ainvoke("async langchain question")
    assert fake_llm.count(ROUTE) - before == 2


def test_fail_open(fake_llm, dead_url, embed) -> None:
    model = chat_model(fake_llm, FerrocacheCache(cache_url=dead_url, embed_fn=embed))
    assert model.invoke("still answered").content.startswith("answer #")


def test_split_prompt_of_chat_messages() -> None:
    from langchain_core.load import dumps

    text, rest = split_prompt(dumps([SystemMessage("sys"), HumanMessage("the question")]))
    assert text == "the question" and len(rest) == 1
    assert split_prompt("plain prompt") == ("plain prompt", None)
