"""Adapter for Anthropic ``messages.create`` (``anthropic`` SDK, sync and async)."""
from __future__ import annotations

import copy
import json
from typing import Any, Dict, List, Optional, Tuple

from .._semantic import is_sentinel, to_plain
from ._messages import materialise, text_of_content

KIND = "anthropic.message"

IGNORED_PARAMS = frozenset({"messages", "stream", "timeout", "extra_headers", "extra_query", "metadata",
                            "service_tier"})

# stop reasons whose message is not a finished answer worth reusing
_UNCACHEABLE_STOPS = (None, "pause_turn", "refusal")


class AnthropicMessagesAdapter:
    kind = KIND

    def prepare(self, kwargs: Dict[str, Any]) -> Optional[Tuple[str, Any]]:
        messages = materialise(kwargs, "messages")
        materialise(kwargs, "tools")
        if not messages:
            return None
        plain = to_plain(messages)
        last = plain[-1]
        if not isinstance(last, dict) or last.get("role") != "user":
            return None
        text = text_of_content(last.get("content"))
        if text is None or not text.strip():
            return None
        params = {k: v for k, v in kwargs.items() if k not in IGNORED_PARAMS and not is_sentinel(v)}
        fingerprint = {"api": "anthropic.messages", "history": plain[:-1], "params": params}
        return text, fingerprint

    def dump(self, response: Any) -> Optional[Dict[str, Any]]:
        data = to_plain(response)
        if not isinstance(data, dict) or data.get("type") != "message":
            return None
        if data.get("stop_reason") in _UNCACHEABLE_STOPS:
            return None
        return data

    def build(self, data: Dict[str, Any]) -> Any:
        from anthropic.types import Message

        return _validate(Message, data)

    def replay(self, data: Dict[str, Any], kwargs: Dict[str, Any]) -> List[Any]:
        return [_event(e) for e in message_to_events(data)]

    def accumulate(self, items: List[Any]) -> Optional[Dict[str, Any]]:
        return events_to_message([to_plain(i) for i in items])


def _validate(model: Any, data: Dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except Exception:
        return model.construct(**data)


def _event(data: Dict[str, Any]) -> Any:
    import anthropic.types as t

    classes = {
        "message_start": t.RawMessageStartEvent,
        "content_block_start": t.RawContentBlockStartEvent,
        "content_block_delta": t.RawContentBlockDeltaEvent,
        "content_block_stop": t.RawContentBlockStopEvent,
        "message_delta": t.RawMessageDeltaEvent,
        "message_stop": t.RawMessageStopEvent,
    }
    return _validate(classes[data["type"]], data)


def _empty_block(block: Dict[str, Any]) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """The ``content_block_start`` block and the deltas that complete it."""
    kind = block.get("type")
    if kind == "text":
        start = dict(block, text="")
        start.pop("citations", None)
        deltas = [{"type": "text_delta", "text": block.get("text", "")}] if block.get("text") else []
        for citation in block.get("citations") or []:
            deltas.append({"type": "citations_delta", "citation": citation})
        return start, deltas
    if kind in ("tool_use", "server_tool_use"):
        start = dict(block, input={})
        return start, [{"type": "input_json_delta", "partial_json": json.dumps(block.get("input", {}))}]
    if kind == "thinking":
        start = dict(block, thinking="", signature="")
        deltas = [{"type": "thinking_delta", "thinking": block.get("thinking", "")}]
        if block.get("signature"):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        return start, deltas
    return dict(block), []  # redacted thinking, tool results ...: whole in the start event


def message_to_events(data: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The stream events the Messages API would send for a complete message."""
    usage = dict(data.get("usage") or {})
    start_message = dict(data, content=[], stop_reason=None, stop_sequence=None,
                         usage=dict(usage, output_tokens=min(1, int(usage.get("output_tokens") or 0))))
    events: List[Dict[str, Any]] = [{"type": "message_start", "message": start_message}]
    for index, block in enumerate(data.get("content") or []):
        start, deltas = _empty_block(block)
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        events.extend({"type": "content_block_delta", "index": index, "delta": d} for d in deltas)
        events.append({"type": "content_block_stop", "index": index})
    events.append({"type": "message_delta",
                   "delta": {"stop_reason": data.get("stop_reason"), "stop_sequence": data.get("stop_sequence")},
                   "usage": {"output_tokens": int(usage.get("output_tokens") or 0)}})
    events.append({"type": "message_stop"})
    return events


def events_to_message(events: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The message dict equivalent to a complete event stream, or None if incomplete or not cacheable."""
    message: Optional[Dict[str, Any]] = None
    json_parts: Dict[int, str] = {}
    finished = False
    for event in events:
        kind = event.get("type")
        if kind == "message_start":
            message = copy.deepcopy(event.get("message") or {})
            message["content"] = []
        elif message is None:
            continue
        elif kind == "content_block_start":
            index = event.get("index", len(message["content"]))
            while len(message["content"]) <= index:
                message["content"].append(None)
            message["content"][index] = copy.deepcopy(event.get("content_block") or {})
        elif kind == "content_block_delta":
            index = event.get("index", 0)
            if index >= len(message["content"]) or message["content"][index] is None:
                return None
            block = message["content"][index]
            delta = event.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
            elif dtype == "input_json_delta":
                json_parts[index] = json_parts.get(index, "") + delta.get("partial_json", "")
            elif dtype == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
            elif dtype == "signature_delta":
                block["signature"] = delta.get("signature", "")
            elif dtype == "citations_delta":
                block.setdefault("citations", []).append(delta.get("citation"))
            else:
                return None  # a delta we cannot rebuild: do not cache
        elif kind == "content_block_stop":
            index = event.get("index", 0)
            if index in json_parts and index < len(message["content"]):
                raw = json_parts.pop(index)
                try:
                    message["content"][index]["input"] = json.loads(raw) if raw else {}
                except ValueError:
                    return None
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            for key in ("stop_reason", "stop_sequence"):
                if key in delta:
                    message[key] = delta[key]
            usage = event.get("usage") or {}
            merged = dict(message.get("usage") or {})
            merged.update({k: v for k, v in usage.items() if v is not None})
            message["usage"] = merged
        elif kind == "message_stop":
            finished = True
    if message is None or not finished or json_parts or any(b is None for b in message["content"]):
        return None
    if message.get("stop_reason") in _UNCACHEABLE_STOPS:
        return None
    return message
