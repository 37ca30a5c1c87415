"""FerroCache: Python client and LLM-SDK integrations for the FerroCache semantic cache.

* :class:`FerrocacheClient` / :class:`AsyncFerrocacheClient` - the HTTP API (standard library only)
* :mod:`ferrocache.embeddings` - embedding functions (OpenAI-compatible, Voyage, Cohere, local)
* :mod:`ferrocache.middleware` - ``wrap_openai`` / ``wrap_anthropic``
* :mod:`ferrocache.langchain` - ``FerrocacheCache`` (LangChain ``BaseCache``)
* :mod:`ferrocache.llamaindex` - ``FerrocacheLLM`` (LlamaIndex LLM wrapper)
* ``python -m ferrocache.mcp_server`` - MCP server over stdio
"""
from __future__ import annotations

from ._version import __version__
from .async_client import AsyncFerrocacheClient
from .client import FerrocacheClient
from .errors import EmbeddingError, FerrocacheConnectionError, FerrocacheError, FerrocacheTimeoutError

__all__ = [
    "__version__",
    "FerrocacheClient",
    "AsyncFerrocacheClient",
    "FerrocacheError",
    "FerrocacheConnectionError",
    "FerrocacheTimeoutError",
    "EmbeddingError",
]
