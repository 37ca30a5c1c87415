"""Adapter for OpenAI ``chat.completions.create`` (``openai`` SDK, sync and async)."""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

from .._semantic import is_sentinel, to_plain
from ._messages import materialise, text_of_content

KIND = "openai.chat.completion"

# Arguments that do not change the answer: left out of the fingerprint.
IGNORED_PARAMS = frozenset({
    "messages", "stream", "stream_options", "timeout", "extra_headers", "extra_query", "metadata", "user",
    "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options", "store",
    "service_tier",
})


class OpenAIChatAdapter:
    kind = KIND

    def prepare(self, kwargs: Dict[str, Any]) -> Optional[Tuple[str, Any]]:
        messages = materialise(kwargs, "messages")
        materialise(kwargs, "tools")
        materialise(kwargs, "functions")
        if not messages:
            return None
        plain = to_plain(messages)
        last = plain[-1]
        if not isinstance(last, dict) or last.get("role") != "user":
            return None  # tool results, assistant prefill ...: not a question to look up
        text = text_of_content(last.get("content"))
        if text is None or not text.strip():
            return None
        params = {k: v for k, v in kwargs.items() if k not in IGNORED_PARAMS and not is_sentinel(v)}
        fingerprint = {"api": "openai.chat.completions", "history": plain[:-1], "params": params}
        return text, fingerprint

    def dump(self, response: Any) -> Optional[Dict[str, Any]]:
        data = to_plain(response)
        if not isinstance(data, dict) or not data.get("choices"):
            return None
        for choice in data["choices"]:
            if choice.get("finish_reason") in (None, "content_filter"):
                return None
        return data

    def build(self, data: Dict[str, Any]) -> Any:
        from openai.types.chat import ChatCompletion

        return _validate(ChatCompletion, data)

    def replay(self, data: Dict[str, Any], kwargs: Dict[str, Any]) -> List[Any]:
        from openai.types.chat import ChatCompletionChunk

        options = to_plain(kwargs.get("stream_options")) or {}
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return [_validate(ChatCompletionChunk, c) for c in completion_to_chunks(data, include_usage)]

    def accumulate(self, items: List[Any]) -> Optional[Dict[str, Any]]:
        return chunks_to_completion([to_plain(i) for i in items])


def _validate(model: Any, data: Dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except Exception:
        return model.construct(**data)


def completion_to_chunks(data: Dict[str, Any], include_usage: bool) -> List[Dict[str, Any]]:
    """The ``chat.completion.chunk`` dicts a server would stream for a complete ``chat.completion``."""
    head = {
        "id": data.get("id", "chatcmpl-ferrocache"),
        "object": "chat.completion.chunk",
        "created": data.get("created", int(time.time())),
        "model": data.get("model", ""),
    }
    for key in ("system_fingerprint", "service_tier"):
        if data.get(key) is not None:
            head[key] = data[key]

    def chunk(choices: List[Dict[str, Any]]) -> Dict[str, Any]:
        out = dict(head, choices=choices)
        if include_usage:
            out["usage"] = None
        return out

    chunks: List[Dict[str, Any]] = []
    for choice in data.get("choices", []):
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        chunks.append(chunk([{"index": index, "delta": {"role": message.get("role", "assistant"), "content": ""},
                              "finish_reason": None}]))
        if message.get("content"):
            chunks.append(chunk([{"index": index, "delta": {"content": message["content"]}, "finish_reason": None}]))
        if message.get("refusal"):
            chunks.append(chunk([{"index": index, "delta": {"refusal": message["refusal"]}, "finish_reason": None}]))
        for position, call in enumerate(message.get("tool_calls") or []):
            delta_call = {"index": position, "id": call.get("id"), "type": call.get("type", "function"),
                          "function": dict(call.get("function") or {})}
            chunks.append(chunk([{"index": index, "delta": {"tool_calls": [delta_call]}, "finish_reason": None}]))
        chunks.append(chunk([{"index": index, "delta": {}, "finish_reason": choice.get("finish_reason", "stop")}]))
    if include_usage and data.get("usage") is not None:
        chunks.append(dict(head, choices=[], usage=data["usage"]))
    return chunks


def chunks_to_completion(chunks: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The ``chat.completion`` dict equivalent to a complete stream, or None if incomplete or unusual."""
    if not chunks:
        return None
    first = chunks[0]
    out: Dict[str, Any] = {"id": first.get("id"), "object": "chat.completion", "created": first.get("created"),
                           "model": first.get("model")}
    choices: Dict[int, Dict[str, Any]] = {}
    for chunk in chunks:
        for key in ("system_fingerprint", "service_tier"):
            if chunk.get(key) is not None:
                out[key] = chunk[key]
        if chunk.get("usage"):
            out["usage"] = chunk["usage"]
        for c in chunk.get("choices") or []:
            index = c.get("index", 0)
            acc = choices.setdefault(index, {"index": index, "message": {"role": "assistant", "content": None},
                                             "finish_reason": None, "logprobs": None})
            delta = c.get("delta") or {}
            message = acc["message"]
            if delta.get("role"):
                message["role"] = delta["role"]
            if delta.get("function_call"):
                return None  # legacy function calling: not cached
            for field in ("content", "refusal"):
                if delta.get(field):
                    message[field] = (message.get(field) or "") + delta[field]
            for call in delta.get("tool_calls") or []:
                calls = message.setdefault("tool_calls", [])
                position = call.get("index", len(calls))
                while len(calls) <= position:
                    calls.append({"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                target = calls[position]
                if call.get("id"):
                    target["id"] = call["id"]
                if call.get("type"):
                    target["type"] = call["type"]
                fn = call.get("function") or {}
                if fn.get("name"):
                    target["function"]["name"] += fn["name"]
                if fn.get("arguments"):
                    target["function"]["arguments"] += fn["arguments"]
            if c.get("finish_reason"):
                acc["finish_reason"] = c["finish_reason"]
    if not choices or any(c["finish_reason"] in (None, "content_filter") for c in choices.values()):
        return None
    out["choices"] = [choices[i] for i in sorted(choices)]
    return out
