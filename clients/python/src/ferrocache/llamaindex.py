"""LlamaIndex integration: :class:`FerrocacheLLM`, a caching wrapper around any LlamaIndex LLM.

    from llama_index.llms.openai import OpenAI
    from ferrocache.llamaindex import FerrocacheLLM

    llm = FerrocacheLLM(OpenAI(model="gpt-4o-mini"), cache_url="http://localhost:3000")
    llm.complete("What is a semantic cache?")

``complete``/``chat`` (sync and async) and ``stream_complete``/``stream_chat``
(sync and async) are cached. The key is the prompt (for chat: the last user
message) in a namespace that holds the inner LLM's class and settings (model,
temperature, max tokens ..., API keys left out), the earlier chat messages
and the call's keyword arguments. Responses carry ``_ferrocache_hit`` and
``_ferrocache_similarity`` like the SDK wrappers'.
"""
from __future__ import annotations

from typing import Any, AsyncGenerator, Dict, Generator, Optional, Sequence, Tuple

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.llm import LLM
from pydantic import Field, PrivateAttr

from ._semantic import Lookup, SemanticCache, decode_payload, encode_payload, to_plain
from .embeddings import EmbedFn
from .middleware._intercept import mark

__all__ = ["FerrocacheLLM"]

CHAT_KIND = "llamaindex.chat"
COMPLETION_KIND = "llamaindex.completion"
_SECRET_HINTS = ("key", "token", "secret", "password", "callback", "http_client")


def _settings(llm: Any) -> Dict[str, Any]:
    """The inner LLM's configuration without credentials or live objects."""
    try:
        data = llm.to_dict()
    except Exception:
        try:
            data = llm.metadata.model_dump()
        except Exception:
            data = {}
    data = {k: v for k, v in to_plain(data).items() if not any(h in k.lower() for h in _SECRET_HINTS)}
    data["class"] = f"{type(llm).__module__}.{type(llm).__qualname__}"
    return data


def _message_text(message: ChatMessage) -> Optional[str]:
    content = message.content
    return content if isinstance(content, str) else None


def _message_dict(message: ChatMessage) -> Dict[str, Any]:
    return {"role": str(getattr(message.role, "value", message.role)), "content": message.content,
            "additional_kwargs": to_plain(message.additional_kwargs)}


def _chat_from_data(data: Dict[str, Any]) -> ChatResponse:
    message = data.get("message") or {}
    return ChatResponse(message=ChatMessage(role=MessageRole(message.get("role", "assistant")),
                                            content=message.get("content"),
                                            additional_kwargs=message.get("additional_kwargs") or {}),
                        additional_kwargs=data.get("additional_kwargs") or {})


def _chat_data(response: ChatResponse) -> Dict[str, Any]:
    return {"message": _message_dict(response.message), "additional_kwargs": to_plain(response.additional_kwargs)}


def _completion_data(response: CompletionResponse) -> Dict[str, Any]:
    return {"text": response.text, "additional_kwargs": to_plain(response.additional_kwargs)}


def _completion_from_data(data: Dict[str, Any]) -> CompletionResponse:
    return CompletionResponse(text=data.get("text", ""), additional_kwargs=data.get("additional_kwargs") or {})


class FerrocacheLLM(LLM):
    """Wraps a LlamaIndex ``LLM`` with FerroCache; keyword arguments as for ``wrap_openai``."""

    inner: Any = Field(description="The wrapped LlamaIndex LLM.", exclude=True)
    _cache: SemanticCache = PrivateAttr()

    def __init__(self, inner: Any, cache_url: Optional[str] = None, threshold: Optional[float] = None,
                 embed_fn: Optional[EmbedFn] = None, model_id: Optional[str] = None, fail_open: bool = True,
                 auth_token: Optional[str] = None, cache_scope: Optional[str] = None,
                 conversation_id: Optional[str] = None, ttl_seconds: Optional[int] = None,
                 max_error_rate: Optional[float] = None, check: Optional[str] = None,
                 **kwargs: Any) -> None:
        super().__init__(inner=inner, **kwargs)  # type: ignore[call-arg]
        self._cache = SemanticCache(cache_url=cache_url, threshold=threshold, embed_fn=embed_fn,
                                    model_id=model_id, fail_open=fail_open, auth_token=auth_token,
                                    cache_scope=cache_scope, conversation_id=conversation_id,
                                    ttl_seconds=ttl_seconds, kind="llamaindex",
                                    max_error_rate=max_error_rate, check=check)

    @classmethod
    def class_name(cls) -> str:
        return "FerrocacheLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return self.inner.metadata

    @property
    def semantic_cache(self) -> SemanticCache:
        return self._cache

    # ------------------------------------------------------------------ keys

    def _chat_key(self, messages: Sequence[ChatMessage], kwargs: Dict[str, Any]) -> Optional[Tuple[str, Any]]:
        if not messages or messages[-1].role != MessageRole.USER:
            return None
        text = _message_text(messages[-1])
        if text is None or not text.strip():
            return None
        return text, {"api": "llamaindex.chat", "llm": _settings(self.inner),
                      "history": [_message_dict(m) for m in messages[:-1]], "kwargs": to_plain(kwargs)}

    def _completion_key(self, prompt: str, formatted: bool, kwargs: Dict[str, Any]) -> Optional[Tuple[str, Any]]:
        if not prompt or not prompt.strip():
            return None
        return prompt, {"api": "llamaindex.complete", "llm": _settings(self.inner), "formatted": formatted,
                        "kwargs": to_plain(kwargs)}

    def _hit(self, look: Lookup, kind: str) -> Optional[Dict[str, Any]]:
        return decode_payload(kind, look.response) if look.hit else None

    # ------------------------------------------------------------------ chat

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        key = self._chat_key(messages, kwargs)
        if key is None:
            return mark(self.inner.chat(messages, **kwargs), None, None)
        look = self._cache.lookup(*key)
        data = self._hit(look, CHAT_KIND)
        if data is not None:
            return mark(_chat_from_data(data), True, look.similarity)
        response = self.inner.chat(messages, **kwargs)
        if look.hit is not None:
            self._cache.store(look, encode_payload(CHAT_KIND, _chat_data(response)))
        return mark(response, None if look.hit is None else False, None)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        key = self._chat_key(messages, kwargs)
        if key is None:
            return mark(await self.inner.achat(messages, **kwargs), None, None)
        look = await self._cache.alookup(*key)
        data = self._hit(look, CHAT_KIND)
        if data is not None:
            return mark(_chat_from_data(data), True, look.similarity)
        response = await self.inner.achat(messages, **kwargs)
        if look.hit is not None:
            await self._cache.astore(look, encode_payload(CHAT_KIND, _chat_data(response)))
        return mark(response, None if look.hit is None else False, None)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        key = self._chat_key(messages, kwargs)
        look = self._cache.lookup(*key) if key is not None else Lookup.bypass()
        data = self._hit(look, CHAT_KIND)

        def gen() -> Generator[ChatResponse, None, None]:
            if data is not None:
                response = _chat_from_data(data)
                response.delta = response.message.content or ""
                yield mark(response, True, look.similarity)
                return
            last: Optional[ChatResponse] = None
            for last in self.inner.stream_chat(messages, **kwargs):
                yield mark(last, None if look.hit is None else False, None)
            if last is not None and look.hit is not None:
                self._cache.store(look, encode_payload(CHAT_KIND, _chat_data(last)))

        return gen()

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        key = self._chat_key(messages, kwargs)
        look = await self._cache.alookup(*key) if key is not None else Lookup.bypass()
        data = self._hit(look, CHAT_KIND)

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            if data is not None:
                response = _chat_from_data(data)
                response.delta = response.message.content or ""
                yield mark(response, True, look.similarity)
                return
            last: Optional[ChatResponse] = None
            async for last in await self.inner.astream_chat(messages, **kwargs):
                yield mark(last, None if look.hit is None else False, None)
            if last is not None and look.hit is not None:
                await self._cache.astore(look, encode_payload(CHAT_KIND, _chat_data(last)))

        return gen()

    # ------------------------------------------------------------------ completion

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        key = self._completion_key(prompt, formatted, kwargs)
        if key is None:
            return mark(self.inner.complete(prompt, formatted=formatted, **kwargs), None, None)
        look = self._cache.lookup(*key)
        data = self._hit(look, COMPLETION_KIND)
        if data is not None:
            return mark(_completion_from_data(data), True, look.similarity)
        response = self.inner.complete(prompt, formatted=formatted, **kwargs)
        if look.hit is not None:
            self._cache.store(look, encode_payload(COMPLETION_KIND, _completion_data(response)))
        return mark(response, None if look.hit is None else False, None)

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        key = self._completion_key(prompt, formatted, kwargs)
        if key is None:
            return mark(await self.inner.acomplete(prompt, formatted=formatted, **kwargs), None, None)
        look = await self._cache.alookup(*key)
        data = self._hit(look, COMPLETION_KIND)
        if data is not None:
            return mark(_completion_from_data(data), True, look.similarity)
        response = await self.inner.acomplete(prompt, formatted=formatted, **kwargs)
        if look.hit is not None:
            await self._cache.astore(look, encode_payload(COMPLETION_KIND, _completion_data(response)))
        return mark(response, None if look.hit is None else False, None)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        key = self._completion_key(prompt, formatted, kwargs)
        look = self._cache.lookup(*key) if key is not None else Lookup.bypass()
        data = self._hit(look, COMPLETION_KIND)

        def gen() -> Generator[CompletionResponse, None, None]:
            if data is not None:
                response = _completion_from_data(data)
                response.delta = response.text
                yield mark(response, True, look.similarity)
                return
            last: Optional[CompletionResponse] = None
            for last in self.inner.stream_complete(prompt, formatted=formatted, **kwargs):
                yield mark(last, None if look.hit is None else False, None)
            if last is not None and look.hit is not None:
                self._cache.store(look, encode_payload(COMPLETION_KIND, _completion_data(last)))

        return gen()

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False,
                               **kwargs: Any) -> CompletionResponseAsyncGen:
        key = self._completion_key(prompt, formatted, kwargs)
        look = await self._cache.alookup(*key) if key is not None else Lookup.bypass()
        data = self._hit(look, COMPLETION_KIND)

        async def gen() -> AsyncGenerator[CompletionResponse, None]:
            if data is not None:
                response = _completion_from_data(data)
                response.delta = response.text
                yield mark(response, True, look.similarity)
                return
            last: Optional[CompletionResponse] = None
            async for last in await self.inner.astream_complete(prompt, formatted=formatted, **kwargs):
                yield mark(last, None if look.hit is None else False, None)
            if last is not None and look.hit is not None:
                await self._cache.astore(look, encode_payload(COMPLETION_KIND, _completion_data(last)))

        return gen()

    def clear(self) -> int:
        """Delete every entry this wrapper kind stored in its scope (see ``FerrocacheCache.clear``)."""
        return self._cache.clear()

