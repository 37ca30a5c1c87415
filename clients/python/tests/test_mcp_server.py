"""`python -m ferrocache.mcp_server` over stdio, driven by the real MCP SDK client, against a real node."""
from __future__ import annotations

import json
import sys
from typing import Any, Dict

import pytest

mcp = pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

from conftest import AUTH_TOKEN  # noqa: E402


def is_error(result: Any) -> bool:  # mcp 2: is_error; mcp 1: isError
    return bool(getattr(result, "is_error", getattr(result, "isError", False)))


def result_data(result: Any) -> Dict[str, Any]:
    assert not is_error(result), result
    structured = getattr(result, "structured_content", getattr(result, "structuredContent", None))
    if structured:
        return structured.get("result", structured) if set(structured) == {"result"} else structured
    return json.loads(result.content[0].text)


def params(url: str, scope: str, **env: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "ferrocache.mcp_server"], env={
        "FERROCACHE_URL": url, "FERROCACHE_EMBEDDER": "hash", "FERROCACHE_EMBED_DIM": "64",
        "FERROCACHE_MCP_SCOPE": scope, **env})


async def test_tools_store_lookup_status(node, scope: str) -> None:
    async with stdio_client(params(node.url, scope)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            names = {t.name for t in (await session.list_tools()).tools}
            assert {"semantic_cache_lookup", "semantic_cache_store", "cache_status"} <= names

            miss = result_data(await session.call_tool("semantic_cache_lookup", {"query": "How do I reset a router?"}))
            assert miss == {"hit": False}
            stored = result_data(await session.call_tool("semantic_cache_store", {
                "query": "How do I reset a router?", "response": "Hold the button for 10 seconds."}))
            assert stored["stored"] is True and stored["id"]
            hit = result_data(await session.call_tool("semantic_cache_lookup", {"query": "how do i reset a router"}))
            assert hit["hit"] is True and hit["response"] == "Hold the button for 10 seconds."
            assert hit["id"] == stored["id"] and hit["similarity"] == pytest.approx(1.0)

            near = {"query": "How can I reset my router?", "threshold": 0.5}
            assert result_data(await session.call_tool("semantic_cache_lookup", near))["hit"] is True
            other_ns = {"query": "How do I reset a router?", "namespace": "another-task"}
            assert result_data(await session.call_tool("semantic_cache_lookup", other_ns)) == {"hit": False}

            status = result_data(await session.call_tool("cache_status", {}))
            assert status["health"]["status"] == "ok" and status["url"] == node.url
            assert any(name.endswith("::" + scope) for name in status["stats"]["namespaces"])


async def test_auth_token_from_environment(auth_node, scope: str) -> None:
    async with stdio_client(params(auth_node.url, scope, FERROCACHE_AUTH_TOKEN=AUTH_TOKEN)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            stored = result_data(await session.call_tool("semantic_cache_store", {"query": "q", "response": "r"}))
            assert stored["stored"] is True
            assert "counters" in result_data(await session.call_tool("cache_status", {}))["stats"]


async def test_errors_are_tool_errors(dead_url: str, scope: str) -> None:
    async with stdio_client(params(dead_url, scope)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("semantic_cache_lookup", {"query": "anything"})
            assert is_error(result) and "cache lookup failed" in result.content[0].text


async def test_lookup_quality_arguments_and_feedback_tool(node, scope: str) -> None:
    async with stdio_client(params(node.url, scope, FERROCACHE_MCP_CHECK="strict")) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            names = {t.name for t in (await session.list_tools()).tools}
            assert "semantic_cache_feedback" in names
            q23 = "What is the capital gains tax rate for 2023?"
            q24 = "What is the capital gains tax rate for 2024?"
            await session.call_tool("semantic_cache_store", {"query": q23, "response": "20%"})
            refused = {"query": q24, "threshold": 0.5}
            assert result_data(await session.call_tool("semantic_cache_lookup", refused)) == {"hit": False}
            hit = result_data(await session.call_tool("semantic_cache_lookup", {**refused, "check": "off",
                                                                                 "max_error_rate": 0.1}))
            assert hit["hit"] is True and hit["matched_query_text"] == q23 and hit["decided_by"] == "threshold"
            recorded = result_data(await session.call_tool("semantic_cache_feedback", {
                "query": q24, "id": hit["id"], "similarity": hit["similarity"], "correct": False}))
            assert recorded == {"recorded": True}
            bad = await session.call_tool("semantic_cache_lookup", {"query": q24, "max_error_rate": 0.9})
            assert is_error(bad)
