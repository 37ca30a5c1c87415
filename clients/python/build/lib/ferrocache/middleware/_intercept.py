"""Provider-independent cache interception of an SDK ``create`` method.

A provider adapter (OpenAI chat completions, Anthropic messages) knows how to
read a call's keyword arguments and how to turn responses and stream items
into JSON and back; everything else - lookup, hit replay, storing misses,
fail-open, marking responses - lives here once, for sync and async clients.
"""
from __future__ import annotations

import functools
import inspect
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple

from .._semantic import Lookup, SemanticCache, decode_payload, encode_payload
from ._streams import AsyncRecordingStream, AsyncReplayStream, RecordingStream, ReplayStream

log = logging.getLogger("ferrocache")


class Adapter(Protocol):
    """What the interceptor needs to know about one SDK method."""

    kind: str  # payload kind stored in the cache, e.g. "openai.chat.completion"

    def prepare(self, kwargs: Dict[str, Any]) -> Optional[Tuple[str, Any]]:
        """(text to embed, fingerprint) for a cacheable call, else None. May normalise ``kwargs`` in place."""

    def dump(self, response: Any) -> Optional[Dict[str, Any]]:
        """JSON data of a complete response, or None when it should not be cached."""

    def build(self, data: Dict[str, Any]) -> Any:
        """The SDK response object for stored data."""

    def replay(self, data: Dict[str, Any], kwargs: Dict[str, Any]) -> List[Any]:
        """The SDK stream items that deliver stored data."""

    def accumulate(self, items: List[Any]) -> Optional[Dict[str, Any]]:
        """JSON data of a complete streamed response, or None when incomplete or not cacheable."""


@dataclass
class CallOptions:
    """Per-call settings, given to the wrapped ``create`` as ``ferrocache_*`` keyword arguments."""

    skip: bool = False
    cache_scope: Optional[str] = None
    conversation_id: Optional[str] = None
    ttl_seconds: Optional[int] = None


def pop_call_options(kwargs: Dict[str, Any]) -> CallOptions:
    return CallOptions(
        skip=bool(kwargs.pop("ferrocache_skip", False)),
        cache_scope=kwargs.pop("ferrocache_cache_scope", None),
        conversation_id=kwargs.pop("ferrocache_conversation_id", None),
        ttl_seconds=kwargs.pop("ferrocache_ttl_seconds", None),
    )


def mark(obj: Any, hit: Optional[bool], similarity: Optional[float]) -> Any:
    """Set ``_ferrocache_hit`` / ``_ferrocache_similarity`` on a response (best effort)."""
    try:
        setattr(obj, "_ferrocache_hit", hit)
        setattr(obj, "_ferrocache_similarity", similarity)
    except (AttributeError, TypeError, ValueError):
        pass
    return obj


def _stored_data(adapter: Adapter, look: Lookup) -> Optional[Dict[str, Any]]:
    data = decode_payload(adapter.kind, look.response)
    if data is None:
        log.warning("ferrocache: entry %s is not a %s payload; treating as a miss", look.entry_id, adapter.kind)
    return data


def _serve_hit(adapter: Adapter, look: Lookup, kwargs: Dict[str, Any], streaming: bool, is_async: bool) -> Any:
    """The response for a hit, or None when the stored entry cannot be used."""
    data = _stored_data(adapter, look)
    if data is None:
        return None
    try:
        if streaming:
            items = adapter.replay(data, kwargs)
            return AsyncReplayStream(items, look.similarity) if is_async else ReplayStream(items, look.similarity)
        return mark(adapter.build(data), True, look.similarity)
    except Exception as exc:  # stored by an incompatible SDK version, say
        log.warning("ferrocache: cannot rebuild cached %s (%s); treating as a miss", adapter.kind, exc)
        return None


def _encode(adapter: Adapter, data: Optional[Dict[str, Any]]) -> Optional[str]:
    return None if data is None else encode_payload(adapter.kind, data)


def _safe(fn: Callable[[], Optional[Dict[str, Any]]]) -> Optional[Dict[str, Any]]:
    try:
        return fn()
    except Exception as exc:
        log.warning("ferrocache: cannot serialise the response for the cache: %s", exc)
        return None


def sync_create(original: Callable[..., Any], cache: SemanticCache, adapter: Adapter) -> Callable[..., Any]:
    @functools.wraps(original)
    def create(*args: Any, **kwargs: Any) -> Any:
        opts = pop_call_options(kwargs)
        prepared = None if (opts.skip or args) else adapter.prepare(kwargs)
        if prepared is None:
            return mark(original(*args, **kwargs), None, None)
        text, fingerprint = prepared
        streaming = kwargs.get("stream") is True
        look = cache.lookup(text, fingerprint, opts.cache_scope, opts.conversation_id)
        if look.hit:
            served = _serve_hit(adapter, look, kwargs, streaming, is_async=False)
            if served is not None:
                return served
            look.hit = False
        result = original(**kwargs)
        if look.hit is None:  # the cache failed: fail-open, nothing to store
            return mark(result, None, None)
        if streaming:
            def on_complete(items: List[Any]) -> None:
                cache.store(look, _encode(adapter, _safe(lambda: adapter.accumulate(items))), opts.ttl_seconds)
            return RecordingStream(result, on_complete, hit=False)
        cache.store(look, _encode(adapter, _safe(lambda: adapter.dump(result))), opts.ttl_seconds)
        return mark(result, False, None)

    return create


def async_create(original: Callable[..., Any], cache: SemanticCache, adapter: Adapter) -> Callable[..., Any]:
    @functools.wraps(original)
    async def create(*args: Any, **kwargs: Any) -> Any:
        opts = pop_call_options(kwargs)
        prepared = None if (opts.skip or args) else adapter.prepare(kwargs)
        if prepared is None:
            return mark(await original(*args, **kwargs), None, None)
        text, fingerprint = prepared
        streaming = kwargs.get("stream") is True
        look = await cache.alookup(text, fingerprint, opts.cache_scope, opts.conversation_id)
        if look.hit:
            served = _serve_hit(adapter, look, kwargs, streaming, is_async=True)
            if served is not None:
                return served
            look.hit = False
        result = await original(**kwargs)
        if look.hit is None:
            return mark(result, None, None)
        if streaming:
            async def on_complete(items: List[Any]) -> None:
                await cache.astore(look, _encode(adapter, _safe(lambda: adapter.accumulate(items))),
                                   opts.ttl_seconds)
            return AsyncRecordingStream(result, on_complete, hit=False)
        await cache.astore(look, _encode(adapter, _safe(lambda: adapter.dump(result))), opts.ttl_seconds)
        return mark(result, False, None)

    return create


def is_async_method(method: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(inspect.unwrap(method)) or inspect.iscoroutinefunction(method)


def install(resource: Any, cache: SemanticCache, adapter: Adapter) -> None:
    """Replace ``resource.create`` with the caching version (re-wrapping replaces the previous cache)."""
    original = getattr(resource, "_ferrocache_original_create", None) or resource.create
    wrapped = async_create(original, cache, adapter) if is_async_method(original) \
        else sync_create(original, cache, adapter)
    resource._ferrocache_original_create = original
    resource._ferrocache_cache = cache
    resource.create = wrapped
