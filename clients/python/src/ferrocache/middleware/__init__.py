"""Semantic caching for the OpenAI and Anthropic SDK clients.

    from openai import OpenAI
    from ferrocache.middleware import wrap_openai

    client = wrap_openai(OpenAI())
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[...])
    reply._ferrocache_hit         # True, False, or None (cache not consulted / unreachable)
    reply._ferrocache_similarity  # similarity of the hit, else None

``wrap_openai`` patches ``client.chat.completions.create`` and ``wrap_anthropic``
patches ``client.messages.create`` on the given client (sync or async) and
returns the same client. Streaming calls are cached too: a hit is replayed as a
stream of SDK chunk/event objects; a streamed miss is stored once it has been
read to the end.

What is looked up: the text of the last user message, in a namespace keyed by
the LLM model, the system prompt and earlier turns, and every sampling
argument (temperature, max tokens, tools, response format, ...). Answers are
never reused across any of those. Calls whose last message is not a plain-text
user message are passed through (``_ferrocache_hit`` None).

Per-call keyword arguments, removed before the SDK sees them:
``ferrocache_skip=True``, ``ferrocache_cache_scope=``,
``ferrocache_conversation_id=``, ``ferrocache_ttl_seconds=``.
"""
from __future__ import annotations

from typing import Any, Optional, TypeVar

from .._semantic import SemanticCache
from ..embeddings import EmbedFn
from ._anthropic import AnthropicMessagesAdapter
from ._intercept import Judge, Verifier, install
from ._openai import OpenAIChatAdapter

__all__ = ["wrap_openai", "wrap_anthropic"]

ClientT = TypeVar("ClientT")


def _cache(cache_url: Optional[str], threshold: Optional[float], embed_fn: Optional[EmbedFn],
           model_id: Optional[str], fail_open: bool, auth_token: Optional[str], cache_scope: Optional[str],
           conversation_id: Optional[str], ttl_seconds: Optional[int], max_error_rate: Optional[float] = None,
           check: Optional[str] = None) -> SemanticCache:
    return SemanticCache(cache_url=cache_url, threshold=threshold, embed_fn=embed_fn, model_id=model_id,
                         fail_open=fail_open, auth_token=auth_token, cache_scope=cache_scope,
                         conversation_id=conversation_id, ttl_seconds=ttl_seconds, kind="llm",
                         max_error_rate=max_error_rate, check=check)


def wrap_openai(client: ClientT, cache_url: Optional[str] = None, threshold: Optional[float] = None,
                embed_fn: Optional[EmbedFn] = None, model_id: Optional[str] = None, fail_open: bool = True,
                auth_token: Optional[str] = None, cache_scope: Optional[str] = None,
                conversation_id: Optional[str] = None, ttl_seconds: Optional[int] = None,
                max_error_rate: Optional[float] = None, check: Optional[str] = None, verify_rate: float = 0.0,
                judge: Optional[Judge] = None, verify_seed: Optional[int] = None) -> ClientT:
    """Cache ``client.chat.completions.create`` of an ``openai.OpenAI`` or ``openai.AsyncOpenAI``.

    ``cache_url``: the FerroCache node (default ``$FERROCACHE_URL``, then ``http://localhost:3000``).
    ``threshold``: minimum cosine similarity for a hit (default: the server's, 0.92).
    ``embed_fn``: text -> list of floats (default: :func:`ferrocache.embeddings.local_embedder`).
    ``model_id``: the embedding-model part of namespace names (default: ``embed_fn.model_id``).
    ``fail_open``: when the cache or the embedder fails, call the LLM anyway (default) instead of raising.
    ``auth_token``: default ``$FERROCACHE_AUTH_TOKEN``. ``cache_scope``/``conversation_id``: the
    tenant and conversation namespaces of the server. ``ttl_seconds``: expiry of stored answers.
    ``max_error_rate`` (0 < d <= 0.5): serve a hit only when the server's feedback-calibrated error bound
    allows; ``check="strict"``: refuse hits whose numbers, negation or identifiers differ (docs/quality.md).
    ``verify_rate`` + ``judge``: that share of the hits (non-streaming) is also answered fresh, the
    ``judge(query_text, cached, fresh) -> bool`` decides whether the cached answer was right, the verdict
    is posted as feedback, and the fresh answer is served when it was not. ``verify_seed`` seeds the draw.
    """
    cache = _cache(cache_url, threshold, embed_fn, model_id, fail_open, auth_token, cache_scope,
                   conversation_id, ttl_seconds, max_error_rate, check)
    verifier = Verifier(verify_rate, judge, verify_seed)
    install(client.chat.completions, cache, OpenAIChatAdapter(), verifier)  # type: ignore[attr-defined]
    return client


def wrap_anthropic(client: ClientT, cache_url: Optional[str] = None, threshold: Optional[float] = None,
                   embed_fn: Optional[EmbedFn] = None, model_id: Optional[str] = None, fail_open: bool = True,
                   auth_token: Optional[str] = None, cache_scope: Optional[str] = None,
                   conversation_id: Optional[str] = None, ttl_seconds: Optional[int] = None,
                   max_error_rate: Optional[float] = None, check: Optional[str] = None, verify_rate: float = 0.0,
                   judge: Optional[Judge] = None, verify_seed: Optional[int] = None) -> ClientT:
    """Cache ``client.messages.create`` of an ``anthropic.Anthropic`` or ``anthropic.AsyncAnthropic``.

    Arguments as for :func:`wrap_openai`. ``messages.stream(...)`` is not cached; use
    ``messages.create(..., stream=True)``.
    """
    cache = _cache(cache_url, threshold, embed_fn, model_id, fail_open, auth_token, cache_scope,
                   conversation_id, ttl_seconds, max_error_rate, check)
    verifier = Verifier(verify_rate, judge, verify_seed)
    install(client.messages, cache, AnthropicMessagesAdapter(), verifier)  # type: ignore[attr-defined]
    return client


def cache_of(client: Any) -> Optional[SemanticCache]:
    """The :class:`SemanticCache` a wrapped client uses (None if not wrapped)."""
    for path in (("chat", "completions"), ("messages",)):
        obj = client
        try:
            for name in path:
                obj = getattr(obj, name)
        except AttributeError:
            continue
        cache = getattr(obj, "_ferrocache_cache", None)
        if cache is not None:
            return cache
    return None
