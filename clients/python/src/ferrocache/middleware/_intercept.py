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
import random
import threading
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


Judge = Callable[[str, Any, Any], Any]
"""``judge(query_text, cached_response, fresh_response) -> bool`` (or an awaitable of it): is the cached
answer right for this query, given a fresh one? Responses are the SDK objects. Any callable works: an LLM
call, a cross-encoder, exact comparison."""


class Verifier:
    """Checks a share of the served hits against a fresh answer with a judge and posts the verdict as
    feedback, so the server learns ``max_error_rate`` in production without labels (docs/quality.md)."""

    def __init__(self, rate: float, judge: Optional[Judge], seed: Optional[int] = None) -> None:
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError("verify_rate must be within [0, 1]")
        if rate > 0 and judge is None:
            raise ValueError("verify_rate needs a judge")
        self.rate = float(rate)
        self.judge = judge
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def pick(self) -> bool:
        if self.rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < self.rate


def _judge_failed(exc: BaseException) -> None:
    log.warning("ferrocache: the judge failed; no feedback posted: %s", exc)


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


def sync_create(original: Callable[..., Any], cache: SemanticCache, adapter: Adapter,
                verifier: Optional[Verifier] = None) -> Callable[..., Any]:
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
                if streaming or verifier is None or not verifier.pick():
                    return served
                # Verification: a fresh answer, the judge's verdict, feedback; the fresh answer is
                # served when the judge says the cached one was wrong.
                fresh = original(**kwargs)
                try:
                    correct = bool(verifier.judge(look.query_text, served, fresh))  # type: ignore[misc]
                except Exception as exc:
                    _judge_failed(exc)
                    return served
                cache.feedback(look, correct)
                return served if correct else mark(fresh, False, None)
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


def async_create(original: Callable[..., Any], cache: SemanticCache, adapter: Adapter,
                 verifier: Optional[Verifier] = None) -> Callable[..., Any]:
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
                if streaming or verifier is None or not verifier.pick():
                    return served
                fresh = await original(**kwargs)
                try:
                    verdict = verifier.judge(look.query_text, served, fresh)  # type: ignore[misc]
                    if inspect.isawaitable(verdict):
                        verdict = await verdict
                    correct = bool(verdict)
                except Exception as exc:
                    _judge_failed(exc)
                    return served
                await cache.afeedback(look, correct)
                return served if correct else mark(fresh, False, None)
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


def install(resource: Any, cache: SemanticCache, adapter: Adapter, verifier: Optional[Verifier] = None) -> None:
    """Replace ``resource.create`` with the caching version (re-wrapping replaces the previous cache)."""
    original = getattr(resource, "_ferrocache_original_create", None) or resource.create
    wrapped = async_create(original, cache, adapter, verifier) if is_async_method(original) \
        else sync_create(original, cache, adapter, verifier)
    resource._ferrocache_original_create = original
    resource._ferrocache_cache = cache
    resource.create = wrapped
