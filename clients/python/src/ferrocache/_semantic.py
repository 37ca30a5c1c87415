"""The semantic-cache layer shared by the SDK wrappers and the framework integrations.

A lookup embeds one text (for chat: the last user message), and searches the
namespace whose ``model_id`` is::

    "<embedding model>::<dimension>::<kind>-<16 hex digits of sha256(fingerprint)>"

The fingerprint is everything else that determines the answer (LLM model,
system prompt, earlier turns, sampling parameters, tools ...), serialised as
canonical JSON. Two calls share cached answers only when their fingerprints are
identical; within a namespace the server compares embeddings, and an identical
normalised text is an exact hit.

Failures (cache unreachable, embedding failed, ...) are "fail-open" by default:
the lookup reports ``hit=None`` and the caller goes on to the LLM.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ._http import check_quality_args
from .async_client import AsyncFerrocacheClient
from .client import FerrocacheClient
from .embeddings import EmbedFn, aembed_text, default_embedder, embed_text, embedder_id

log = logging.getLogger("ferrocache")

MAX_QUERY_TEXT_BYTES = 8192
MAX_RESPONSE_BYTES = 102400
PAYLOAD_VERSION = 1


# --------------------------------------------------------------------------- canonical fingerprints

def _plain(value: Any) -> Any:
    """A JSON-compatible rendering of SDK objects (pydantic models, TypedDicts, enums ...)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return _plain(dump(mode="json", exclude_unset=True))
        except TypeError:
            return _plain(dump())
    enum_value = getattr(value, "value", None)
    if enum_value is not None and type(value).__module__ != "builtins" and hasattr(type(value), "__members__"):
        return _plain(enum_value)
    if isinstance(value, type):
        schema = getattr(value, "model_json_schema", None)  # pydantic class as response_format
        return _plain(schema()) if callable(schema) else f"{value.__module__}.{value.__qualname__}"
    return str(value)


def to_plain(value: Any) -> Any:
    """Public name of :func:`_plain` for the provider adapters."""
    return _plain(value)


def canonical_json(value: Any) -> str:
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint_hash(fingerprint: Any) -> str:
    return hashlib.sha256(canonical_json(fingerprint).encode("utf-8")).hexdigest()[:16]


def is_sentinel(value: Any) -> bool:
    """SDK placeholders for "argument not given" (openai/anthropic ``NOT_GIVEN``/``omit``)."""
    return type(value).__name__ in ("NotGiven", "Omit")


def bounded_query_text(text: str) -> str:
    """The text for the server's exact-match filter, or "" when too long to send whole.

    A truncated text could exactly match a different prompt with the same
    beginning, so an over-long text opts out of exact matching instead.
    """
    return text if len(text.encode("utf-8")) <= MAX_QUERY_TEXT_BYTES else ""


# --------------------------------------------------------------------------- stored payloads

def encode_payload(kind: str, data: Any) -> Optional[str]:
    """The ``response`` string stored on the server, or None when larger than the server accepts."""
    text = json.dumps({"ferrocache": PAYLOAD_VERSION, "kind": kind, "data": data},
                      separators=(",", ":"), ensure_ascii=False, default=str)
    if len(text.encode("utf-8")) > MAX_RESPONSE_BYTES:
        log.debug("ferrocache: %s answer of %d bytes is too large to cache", kind, len(text))
        return None
    return text


def decode_payload(kind: str, response: Optional[str]) -> Optional[Any]:
    """The stored data, or None when the entry is not a payload of this kind."""
    if not response:
        return None
    try:
        envelope = json.loads(response)
    except ValueError:
        return None
    if not isinstance(envelope, dict) or envelope.get("kind") != kind or "data" not in envelope:
        return None
    return envelope["data"]


# --------------------------------------------------------------------------- lookups

@dataclass
class Lookup:
    """The outcome of one cache lookup.

    ``hit`` is True (``response`` holds the stored string), False (a miss: the
    caller should :meth:`SemanticCache.store` the fresh answer), or None (the
    cache was not consulted or failed: fail-open).
    """

    hit: Optional[bool]
    similarity: Optional[float] = None
    response: Optional[str] = None
    entry_id: Optional[str] = None
    exact_match: bool = False
    namespace: Optional[str] = None
    embedding: Optional[List[float]] = None
    query_text: str = ""
    cache_scope: Optional[str] = None
    conversation_id: Optional[str] = None
    error: Optional[BaseException] = None
    matched_query_text: Optional[str] = None
    decided_by: Optional[str] = None  # "exact" | "threshold" | "error_bound"
    error_estimate: Optional[float] = None
    scope: Optional[str] = None  # "conversation" | "global" when a conversation_id was sent

    @classmethod
    def bypass(cls) -> "Lookup":
        return cls(hit=None)


_NAMESPACE_KIND = re.compile(r"^[a-z][a-z0-9_-]*$")


class SemanticCache:
    """Embeds texts, and looks up and stores answers in fingerprinted namespaces.

    Shared by :mod:`ferrocache.middleware`, :mod:`ferrocache.langchain` and
    :mod:`ferrocache.llamaindex`. Thread-safe; usable from sync and async code.
    """

    def __init__(self, cache_url: Optional[str] = None, threshold: Optional[float] = None,
                 embed_fn: Optional[EmbedFn] = None, model_id: Optional[str] = None, fail_open: bool = True,
                 auth_token: Optional[str] = None, cache_scope: Optional[str] = None,
                 conversation_id: Optional[str] = None, ttl_seconds: Optional[int] = None,
                 kind: str = "llm", timeout: float = 5.0, max_retries: int = 1,
                 max_error_rate: Optional[float] = None, check: Optional[str] = None) -> None:
        if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
            raise ValueError("threshold must be within [0, 1]")
        check_quality_args(max_error_rate, check)
        self.max_error_rate = None if max_error_rate is None else float(max_error_rate)
        self.check = check
        if not _NAMESPACE_KIND.match(kind):
            raise ValueError(f"bad namespace kind {kind!r}")
        self.embed_fn: EmbedFn = embed_fn if embed_fn is not None else default_embedder()
        self.embed_model = (model_id or embedder_id(self.embed_fn)).strip()
        if not self.embed_model:
            raise ValueError("model_id must not be blank")
        self.threshold = None if threshold is None else float(threshold)
        self.fail_open = fail_open
        self.cache_scope = cache_scope
        self.conversation_id = conversation_id
        self.ttl_seconds = ttl_seconds
        self.kind = kind
        self.client = FerrocacheClient(cache_url, timeout=timeout, auth_token=auth_token, max_retries=max_retries)
        self.aclient = AsyncFerrocacheClient(cache_url, timeout=timeout, auth_token=auth_token,
                                             max_retries=max_retries)
        self._vectors: "OrderedDict[str, List[float]]" = OrderedDict()
        self._vectors_lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.client.base_url

    def close(self) -> None:
        self.client.close()
        self.aclient.close()

    def __repr__(self) -> str:
        return f"SemanticCache({self.url!r}, embed_model={self.embed_model!r}, scope={self.cache_scope!r})"

    # ------------------------------------------------------------------ pure parts

    def namespace(self, dimension: int, fingerprint: Any) -> str:
        return f"{self.embed_model}::{dimension}::{self.kind}-{fingerprint_hash(fingerprint)}"

    def _memo_get(self, text: str) -> Optional[List[float]]:
        with self._vectors_lock:
            vec = self._vectors.get(text)
            if vec is not None:
                self._vectors.move_to_end(text)
            return vec

    def _memo_put(self, text: str, vec: List[float]) -> None:
        with self._vectors_lock:
            self._vectors[text] = vec
            while len(self._vectors) > 256:
                self._vectors.popitem(last=False)

    def _start(self, text: str, vec: List[float], fingerprint: Any, cache_scope: Optional[str],
               conversation_id: Optional[str]) -> Lookup:
        return Lookup(hit=None, namespace=self.namespace(len(vec), fingerprint), embedding=vec,
                      query_text=bounded_query_text(text),
                      cache_scope=cache_scope if cache_scope is not None else self.cache_scope,
                      conversation_id=conversation_id if conversation_id is not None else self.conversation_id)

    def _query_args(self, look: Lookup, threshold: Optional[float], max_error_rate: Optional[float] = None,
                    check: Optional[str] = None) -> Dict[str, Any]:
        if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
            raise ValueError("threshold must be within [0, 1]")
        check_quality_args(max_error_rate, check)
        return dict(embedding=look.embedding, threshold=self.threshold if threshold is None else float(threshold),
                    model_id=look.namespace,
                    query_text=look.query_text or None, cache_scope=look.cache_scope,
                    conversation_id=look.conversation_id,
                    max_error_rate=self.max_error_rate if max_error_rate is None else float(max_error_rate),
                    check=self.check if check is None else check)

    @staticmethod
    def _apply_answer(look: Lookup, answer: Dict[str, Any]) -> Lookup:
        if answer.get("hit"):
            look.hit = True
            look.response = answer.get("response")
            look.entry_id = answer.get("id")
            similarity = answer.get("similarity")
            look.similarity = float(similarity) if isinstance(similarity, (int, float)) else None
            look.exact_match = bool(answer.get("exact_match"))
            look.matched_query_text = answer.get("matched_query_text")
            look.decided_by = answer.get("decided_by")
            estimate = answer.get("error_estimate")
            look.error_estimate = float(estimate) if isinstance(estimate, (int, float)) else None
            look.scope = answer.get("scope")
        else:
            look.hit = False
        return look

    def _insert_args(self, look: Lookup, response: str, ttl_seconds: Optional[int]) -> Dict[str, Any]:
        ttl = ttl_seconds if ttl_seconds is not None else self.ttl_seconds
        return dict(embedding=look.embedding, response=response, query_text=look.query_text,
                    model_id=look.namespace, ttl_seconds=ttl, cache_scope=look.cache_scope,
                    conversation_id=look.conversation_id)

    @staticmethod
    def _feedback_args(look: Lookup, correct: bool) -> Optional[Dict[str, Any]]:
        if not look.hit or not look.entry_id or look.namespace is None or look.similarity is None:
            return None
        # A hit found in the global namespace belongs to it, not to the conversation.
        conversation = look.conversation_id if look.scope != "global" else None
        return dict(id=look.entry_id, model_id=look.namespace, similarity=min(1.0, max(0.0, look.similarity)),
                    correct=bool(correct), query_text=look.query_text or None, cache_scope=look.cache_scope,
                    conversation_id=conversation)

    def feedback(self, look: Lookup, correct: bool) -> bool:
        """Tell the server whether the hit of ``look`` was right (it learns ``max_error_rate`` from this).

        Returns True once the feedback is durable; False when ``look`` was no hit or the call failed
        (fail-open: logged, never raised unless ``fail_open`` is off).
        """
        args = self._feedback_args(look, correct)
        if args is None:
            return False
        try:
            self.client.feedback(**args)
            return True
        except Exception as exc:
            self._failed("cache feedback", exc)
            return False

    async def afeedback_text(self, text: str, fingerprint: Any, entry_id: str, similarity: float, correct: bool,
                             cache_scope: Optional[str] = None, conversation_id: Optional[str] = None) -> bool:
        """Feedback on a hit known only by its id and similarity (an agent reporting back)."""
        vec = await self.aembed(text)
        look = self._start(text, vec, fingerprint, cache_scope, conversation_id)
        look.hit, look.entry_id, look.similarity = True, entry_id, float(similarity)
        return await self.afeedback(look, correct)

    async def afeedback(self, look: Lookup, correct: bool) -> bool:
        args = self._feedback_args(look, correct)
        if args is None:
            return False
        try:
            await self.aclient.feedback(**args)
            return True
        except Exception as exc:
            self._failed("cache feedback", exc)
            return False

    def _failed(self, what: str, exc: BaseException, look: Optional[Lookup] = None) -> Lookup:
        if not self.fail_open:
            raise exc
        log.warning("ferrocache: %s failed, continuing without the cache: %s", what, exc)
        out = look if look is not None else Lookup(hit=None)
        out.hit = None
        out.error = exc
        return out

    # ------------------------------------------------------------------ sync

    def embed(self, text: str) -> List[float]:
        vec = self._memo_get(text)
        if vec is None:
            vec = embed_text(self.embed_fn, text)
            self._memo_put(text, vec)
        return vec

    def lookup(self, text: str, fingerprint: Any, cache_scope: Optional[str] = None,
               conversation_id: Optional[str] = None, threshold: Optional[float] = None,
               max_error_rate: Optional[float] = None, check: Optional[str] = None) -> Lookup:
        """Embed ``text`` and query the namespace of ``fingerprint`` (scope/conversation/threshold/
        max_error_rate/check override the instance's settings)."""
        try:
            vec = self.embed(text)
        except Exception as exc:
            return self._failed("embedding", exc)
        look = self._start(text, vec, fingerprint, cache_scope, conversation_id)
        try:
            return self._apply_answer(look, self.client.query(**self._query_args(look, threshold, max_error_rate,
                                                                                 check)))
        except Exception as exc:
            return self._failed("cache lookup", exc, look)

    def store(self, look: Lookup, response: Optional[str], ttl_seconds: Optional[int] = None) -> Optional[str]:
        """Insert ``response`` for a missed lookup. Returns the entry id, or None when not stored."""
        if response is None or look.embedding is None or look.namespace is None:
            return None
        try:
            return self.client.insert(**self._insert_args(look, response, ttl_seconds)).get("id")
        except Exception as exc:
            self._failed("cache insert", exc)
            return None

    def store_text(self, text: str, fingerprint: Any, response: Optional[str], ttl_seconds: Optional[int] = None,
                   cache_scope: Optional[str] = None, conversation_id: Optional[str] = None) -> Optional[str]:
        """Store ``response`` for ``text`` without a prior :meth:`lookup`; returns the entry id or None."""
        if response is None:
            return None
        try:
            vec = self.embed(text)
        except Exception as exc:
            self._failed("embedding", exc)
            return None
        return self.store(self._start(text, vec, fingerprint, cache_scope, conversation_id), response, ttl_seconds)

    # ------------------------------------------------------------------ async

    async def aembed(self, text: str) -> List[float]:
        vec = self._memo_get(text)
        if vec is None:
            vec = await aembed_text(self.embed_fn, text)
            self._memo_put(text, vec)
        return vec

    async def alookup(self, text: str, fingerprint: Any, cache_scope: Optional[str] = None,
                      conversation_id: Optional[str] = None, threshold: Optional[float] = None,
                      max_error_rate: Optional[float] = None, check: Optional[str] = None) -> Lookup:
        try:
            vec = await self.aembed(text)
        except Exception as exc:
            return self._failed("embedding", exc)
        look = self._start(text, vec, fingerprint, cache_scope, conversation_id)
        try:
            return self._apply_answer(
                look, await self.aclient.query(**self._query_args(look, threshold, max_error_rate, check)))
        except Exception as exc:
            return self._failed("cache lookup", exc, look)

    async def astore(self, look: Lookup, response: Optional[str],
                     ttl_seconds: Optional[int] = None) -> Optional[str]:
        if response is None or look.embedding is None or look.namespace is None:
            return None
        try:
            return (await self.aclient.insert(**self._insert_args(look, response, ttl_seconds))).get("id")
        except Exception as exc:
            self._failed("cache insert", exc)
            return None

    async def astore_text(self, text: str, fingerprint: Any, response: Optional[str],
                          ttl_seconds: Optional[int] = None, cache_scope: Optional[str] = None,
                          conversation_id: Optional[str] = None) -> Optional[str]:
        if response is None:
            return None
        try:
            vec = await self.aembed(text)
        except Exception as exc:
            self._failed("embedding", exc)
            return None
        return await self.astore(self._start(text, vec, fingerprint, cache_scope, conversation_id), response,
                                 ttl_seconds)

    # ------------------------------------------------------------------ clearing a scope

    def _own_namespaces(self, stats: Dict[str, Any]) -> List[Tuple[str, int]]:
        """(model_id, dimension) of this cache's kind among the server's namespaces in our scope.

        Display names are ``model_id[::scope][::conv_<id>]``; we strip our own
        scope/conversation suffix and keep model ids of the form
        ``<anything>::<dim>::<kind>-<16 hex>``. Invalidating with our own scope
        can only ever touch our own namespaces, even if a display name is ambiguous.
        """
        suffix = ""
        if self.cache_scope and self.cache_scope.strip():
            suffix += f"::{self.cache_scope}"
        if self.conversation_id and self.conversation_id.strip():
            suffix += f"::conv_{self.conversation_id}"
        pattern = re.compile(r"^.+::(\d+)::" + re.escape(self.kind) + r"-[0-9a-f]{16}$")
        found: List[Tuple[str, int]] = []
        for display, info in (stats.get("namespaces") or {}).items():
            if isinstance(info, dict) and info.get("entry_count") == 0:
                continue
            if suffix and not display.endswith(suffix):
                continue
            model_id = display[: len(display) - len(suffix)] if suffix else display
            match = pattern.match(model_id)
            if match and 1 <= int(match.group(1)) <= 4096:
                found.append((model_id, int(match.group(1))))
        return found

    @staticmethod
    def _probes(dimension: int) -> Tuple[List[float], List[float]]:
        # Every vector x has cos(x, p) >= 0 or cos(x, -p) >= 0: two radius-0 invalidations
        # with opposite probes remove every entry of the namespace.
        probe = [1.0] + [0.0] * (dimension - 1)
        return probe, [-v for v in probe]

    def clear(self, rounds: int = 3) -> int:
        """Delete every entry of this cache's kind in its scope; returns how many were removed."""
        removed = 0
        for _ in range(rounds):  # more rounds only catch entries inserted while clearing
            before = removed
            for model_id, dim in self._own_namespaces(self.client.stats()):
                for probe in self._probes(dim):
                    answer = self.client.invalidate(probe, 0.0, model_id, self.cache_scope, self.conversation_id)
                    removed += int(answer.get("invalidated_count", 0))
            if removed == before:
                break
        return removed

    async def aclear(self, rounds: int = 3) -> int:
        removed = 0
        for _ in range(rounds):
            before = removed
            for model_id, dim in self._own_namespaces(await self.aclient.stats()):
                for probe in self._probes(dim):
                    answer = await self.aclient.invalidate(probe, 0.0, model_id, self.cache_scope,
                                                           self.conversation_id)
                    removed += int(answer.get("invalidated_count", 0))
            if removed == before:
                break
        return removed

