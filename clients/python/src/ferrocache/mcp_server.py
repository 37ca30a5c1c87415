"""MCP server exposing FerroCache to agents, over stdio.

    python -m ferrocache.mcp_server        (or the ``ferrocache-mcp`` script)

Tools:

* ``semantic_cache_lookup(query, threshold?, namespace?, cache_scope?, conversation_id?, max_error_rate?, check?)``
  -> ``{"hit": true, "response": ..., "similarity": ..., "id": ..., "matched_query_text": ...,
  "decided_by": ...}`` or ``{"hit": false}``
* ``semantic_cache_feedback(query, id, similarity, correct, namespace?, cache_scope?, conversation_id?)``
  -> ``{"recorded": true}``: whether a hit was right (the server learns ``max_error_rate`` from it)
* ``semantic_cache_store(query, response, ttl_seconds?, namespace?, cache_scope?, conversation_id?)``
  -> ``{"stored": true, "id": ...}``
* ``cache_status()`` -> ``{"url": ..., "health": {...}, "stats": {...}}``

Configuration by environment: ``FERROCACHE_URL``, ``FERROCACHE_AUTH_TOKEN``,
``FERROCACHE_MCP_SCOPE`` (default ``cache_scope``), ``FERROCACHE_MCP_THRESHOLD``,
``FERROCACHE_MCP_MAX_ERROR_RATE``, ``FERROCACHE_MCP_CHECK`` (``off`` | ``strict``),
and the embedder (``FERROCACHE_EMBEDDER`` ..., see
:func:`ferrocache.embeddings.embedder_from_env`; default: the local model).
Entries live in the namespace ``"<embedding model>::<dim>::mcp-<hash of namespace>"``,
so the optional ``namespace`` argument keeps separate caches (per task or tool) apart.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple, Type

from ._semantic import SemanticCache
from .client import FerrocacheClient
from .embeddings import embedder_from_env
from .errors import EmbeddingError, FerrocacheError

__all__ = ["build_server", "main"]

SERVER_NAME = "ferrocache"
_ANTICIPATED = (FerrocacheError, EmbeddingError, ValueError)


def _sdk() -> Tuple[Any, Type[Exception]]:
    """The server class and the "anticipated tool failure" exception of the installed MCP SDK."""
    try:  # mcp >= 2
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError

        return MCPServer, ToolError
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp import FastMCP  # type: ignore[attr-defined,unused-ignore]
        from mcp.server.fastmcp.exceptions import ToolError as FastToolError  # type: ignore[unused-ignore]

        return FastMCP, FastToolError


def _env_float(name: str) -> Optional[float]:
    value = os.environ.get(name, "").strip()
    return float(value) if value else None


def _fingerprint(namespace: Optional[str]) -> Dict[str, Any]:
    return {"api": "mcp", "namespace": namespace or ""}


def build_server(cache: Optional[SemanticCache] = None) -> Any:
    """The MCP server object with the three tools registered (``.run()`` serves stdio)."""
    if cache is None:
        cache = SemanticCache(threshold=_env_float("FERROCACHE_MCP_THRESHOLD"), embed_fn=embedder_from_env(),
                              cache_scope=os.environ.get("FERROCACHE_MCP_SCOPE") or None, fail_open=False,
                              kind="mcp", timeout=10.0, max_retries=2,
                              max_error_rate=_env_float("FERROCACHE_MCP_MAX_ERROR_RATE"),
                              check=os.environ.get("FERROCACHE_MCP_CHECK", "").strip() or None)
    status_client = FerrocacheClient(cache.url, auth_token=os.environ.get("FERROCACHE_AUTH_TOKEN"))
    server_class, tool_error = _sdk()
    server = server_class(SERVER_NAME, instructions=(
        "Semantic cache for LLM answers. Before answering a question that may have been answered before, "
        "call semantic_cache_lookup; after producing a reusable answer, call semantic_cache_store."))

    @server.tool()
    async def semantic_cache_lookup(query: str, threshold: Optional[float] = None, namespace: Optional[str] = None,
                                    cache_scope: Optional[str] = None,
                                    conversation_id: Optional[str] = None, max_error_rate: Optional[float] = None,
                                    check: Optional[str] = None) -> Dict[str, Any]:
        """Look up a cached answer for a question (semantic match). Returns hit, response and similarity.

        ``max_error_rate`` (0 < d <= 0.5) serves only hits whose learned error bound allows;
        ``check="strict"`` refuses hits whose numbers, negation or identifiers differ from the question.
        """
        try:
            look = await cache.alookup(query, _fingerprint(namespace), cache_scope, conversation_id, threshold,
                                       max_error_rate, check)
        except _ANTICIPATED as exc:
            raise tool_error(f"cache lookup failed: {exc}") from exc
        if not look.hit:
            return {"hit": False}
        out = {"hit": True, "response": look.response, "similarity": look.similarity, "id": look.entry_id,
               "exact_match": look.exact_match, "matched_query_text": look.matched_query_text,
               "decided_by": look.decided_by}
        if look.error_estimate is not None:
            out["error_estimate"] = look.error_estimate
        return out

    @server.tool()
    async def semantic_cache_feedback(query: str, id: str, similarity: float, correct: bool,
                                      namespace: Optional[str] = None, cache_scope: Optional[str] = None,
                                      conversation_id: Optional[str] = None) -> Dict[str, Any]:
        """Report whether a cached answer (``id``, served at ``similarity`` for ``query``) was right."""
        try:
            recorded = await cache.afeedback_text(query, _fingerprint(namespace), id, similarity, correct,
                                                  cache_scope, conversation_id)
        except _ANTICIPATED as exc:
            raise tool_error(f"cache feedback failed: {exc}") from exc
        return {"recorded": recorded}

    @server.tool()
    async def semantic_cache_store(query: str, response: str, ttl_seconds: Optional[int] = None,
                                   namespace: Optional[str] = None, cache_scope: Optional[str] = None,
                                   conversation_id: Optional[str] = None) -> Dict[str, Any]:
        """Store an answer for a question so that similar questions can reuse it."""
        try:
            entry_id = await cache.astore_text(query, _fingerprint(namespace), response, ttl_seconds, cache_scope,
                                               conversation_id)
        except _ANTICIPATED as exc:
            raise tool_error(f"cache store failed: {exc}") from exc
        return {"stored": entry_id is not None, "id": entry_id}

    @server.tool()
    def cache_status() -> Dict[str, Any]:
        """Health and statistics of the FerroCache node."""
        try:
            return {"url": cache.url, "health": status_client.health(), "stats": status_client.stats()}
        except _ANTICIPATED as exc:
            raise tool_error(f"cache status failed: {exc}") from exc

    return server


def main() -> None:
    build_server().run()


if __name__ == "__main__":
    main()
