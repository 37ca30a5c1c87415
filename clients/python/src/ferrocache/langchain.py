"""LangChain integration: :class:`FerrocacheCache`, a semantic ``BaseCache``.

    from langchain_core.globals import set_llm_cache
    from ferrocache.langchain import FerrocacheCache

    set_llm_cache(FerrocacheCache(cache_url="http://localhost:3000", cache_scope="my-app"))

LangChain asks a cache for ``(prompt, llm_string)``. ``llm_string`` describes
the model and all its parameters; it is part of the namespace, so answers are
never shared across models or settings. For chat models LangChain's prompt is
the JSON of the message list: the last human message is embedded, and the
earlier messages (system prompt, history) join the namespace key. A plain
completion prompt is embedded whole.

``clear()`` deletes every entry this integration stored in the cache's scope
(``cache_scope`` plus ``conversation_id``), on the server, for every process.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.messages import message_to_dict, messages_from_dict
from langchain_core.outputs import ChatGeneration, Generation

from ._semantic import SemanticCache, decode_payload, encode_payload
from .embeddings import EmbedFn

__all__ = ["FerrocacheCache"]

KIND = "langchain.generations"


def _message_type(item: Any) -> Optional[str]:
    if not isinstance(item, dict):
        return None
    kwargs = item.get("kwargs") or {}
    kind = kwargs.get("type") or item.get("type")
    ident = item.get("id")
    if kind in (None, "constructor") and isinstance(ident, list) and ident:
        kind = str(ident[-1])
    return str(kind) if kind else None


def split_prompt(prompt: str) -> Tuple[str, Any]:
    """(text to embed, the rest of the prompt that must match exactly)."""
    try:
        items = json.loads(prompt)
    except ValueError:
        return prompt, None
    if not isinstance(items, list) or not items or not isinstance(items[-1], dict):
        return prompt, None
    last = items[-1]
    if _message_type(last) not in ("human", "HumanMessage", "HumanMessageChunk"):
        return prompt, None
    content = (last.get("kwargs") or {}).get("content")
    if isinstance(content, list):
        parts = [p.get("text") if isinstance(p, dict) and p.get("type") == "text" else p for p in content]
        texts = [p for p in parts if isinstance(p, str)]
        if len(texts) != len(parts):
            return prompt, None
        content = "\n".join(texts)
    if not isinstance(content, str) or not content.strip():
        return prompt, None
    return content, items[:-1]


def _generation_to_dict(gen: Generation) -> Dict[str, Any]:
    if isinstance(gen, ChatGeneration):
        return {"type": "chat", "message": message_to_dict(gen.message), "generation_info": gen.generation_info}
    return {"type": "text", "text": gen.text, "generation_info": gen.generation_info}


def _generation_from_dict(data: Dict[str, Any]) -> Generation:
    if data.get("type") == "chat":
        message = messages_from_dict([data["message"]])[0]
        return ChatGeneration(message=message, generation_info=data.get("generation_info"))
    return Generation(text=data.get("text", ""), generation_info=data.get("generation_info"))


def dump_generations(generations: Sequence[Generation]) -> Optional[str]:
    return encode_payload(KIND, [_generation_to_dict(g) for g in generations])


def load_generations(response: Optional[str]) -> Optional[List[Generation]]:
    data = decode_payload(KIND, response)
    if not isinstance(data, list):
        return None
    try:
        return [_generation_from_dict(d) for d in data]
    except Exception:
        return None


class FerrocacheCache(BaseCache):
    """A LangChain LLM cache backed by FerroCache (semantic, shared between processes).

    Keyword arguments are those of :func:`ferrocache.middleware.wrap_openai`.
    With ``fail_open`` (default) an unreachable cache is a miss and a failed
    store is ignored; ``clear`` always raises on failure.
    """

    def __init__(self, cache_url: Optional[str] = None, threshold: Optional[float] = None,
                 embed_fn: Optional[EmbedFn] = None, model_id: Optional[str] = None, fail_open: bool = True,
                 auth_token: Optional[str] = None, cache_scope: Optional[str] = None,
                 conversation_id: Optional[str] = None, ttl_seconds: Optional[int] = None,
                 max_error_rate: Optional[float] = None, check: Optional[str] = None) -> None:
        self._cache = SemanticCache(cache_url=cache_url, threshold=threshold, embed_fn=embed_fn,
                                    model_id=model_id, fail_open=fail_open, auth_token=auth_token,
                                    cache_scope=cache_scope, conversation_id=conversation_id,
                                    ttl_seconds=ttl_seconds, kind="langchain",
                                    max_error_rate=max_error_rate, check=check)

    @property
    def semantic_cache(self) -> SemanticCache:
        return self._cache

    @staticmethod
    def _key(prompt: str, llm_string: str) -> Tuple[str, Any]:
        text, rest = split_prompt(prompt)
        return text, {"api": "langchain", "llm_string": llm_string, "messages_before": rest}

    def lookup(self, prompt: str, llm_string: str) -> Optional[RETURN_VAL_TYPE]:
        text, fingerprint = self._key(prompt, llm_string)
        look = self._cache.lookup(text, fingerprint)
        return load_generations(look.response) if look.hit else None

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        text, fingerprint = self._key(prompt, llm_string)
        self._cache.store_text(text, fingerprint, dump_generations(return_val))

    def clear(self, **kwargs: Any) -> None:
        """Delete every entry stored through this integration in this cache's scope."""
        self._cache.clear()

    async def alookup(self, prompt: str, llm_string: str) -> Optional[RETURN_VAL_TYPE]:
        text, fingerprint = self._key(prompt, llm_string)
        look = await self._cache.alookup(text, fingerprint)
        return load_generations(look.response) if look.hit else None

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        text, fingerprint = self._key(prompt, llm_string)
        await self._cache.astore_text(text, fingerprint, dump_generations(return_val))

    async def aclear(self, **kwargs: Any) -> None:
        await self._cache.aclear()
