"""A local HTTP server speaking the OpenAI and Anthropic wire formats, for tests.

Routes (all on 127.0.0.1):

* ``POST /v1/chat/completions`` - OpenAI chat completions, JSON or SSE (``stream``)
  with ``stream_options.include_usage``; a request with ``tools`` whose last
  message contains "use the tool" is answered with a tool call.
* ``POST /v1/messages`` - Anthropic messages, JSON or SSE event stream.
* ``POST /v1/embeddings`` - OpenAI/Voyage-style embeddings (hash embedder).
* ``POST /v2/embed`` - Cohere v2 embeddings.

Every answer is numbered (``answer #N``), so a test can tell a replayed cached
answer from a fresh one, and ``calls`` counts requests per route.
"""
from __future__ import annotations

import json
import threading
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ferrocache.embeddings import HashEmbedder

_EMBED = HashEmbedder(64)


def _last_text(messages: List[Dict[str, Any]]) -> str:
    if not messages:
        return ""
    content = messages[-1].get("content")
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def _pieces(text: str, size: int = 7) -> Iterator[str]:
    for i in range(0, len(text), size):
        yield text[i:i + size]


def chat_call(base_url: str, model: str, messages: List[Dict[str, str]], **params: Any) -> str:
    body = json.dumps({"model": model, "messages": messages, **params}).encode()
    req = urllib.request.Request(base_url + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["choices"][0]["message"]["content"]


class _Server(ThreadingHTTPServer):
    request_queue_size = 64


class FakeLLM:
    def __init__(self) -> None:
        self.calls: Counter = Counter()
        self.requests: List[Tuple[str, Dict[str, Any]]] = []
        self._n = 0
        self._lock = threading.Lock()
        self.fail_next: Optional[int] = None
        handler = self._handler()
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> "FakeLLM":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def next_number(self) -> int:
        with self._lock:
            self._n += 1
            return self._n

    def count(self, route: str) -> int:
        return self.calls[route]

    # ------------------------------------------------------------------ answers

    def chat_completion(self, req: Dict[str, Any]) -> Dict[str, Any]:
        n = self.next_number()
        text = _last_text(req.get("messages", []))
        message: Dict[str, Any] = {"role": "assistant", "content": f"answer #{n} to: {text}"}
        finish = "stop"
        if req.get("tools") and "use the tool" in text:
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": f"call_{n}", "type": "function",
                "function": {"name": req["tools"][0]["function"]["name"], "arguments": json.dumps({"n": n})}}]}
            finish = "tool_calls"
        return {"id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1700000000 + n,
                "model": req.get("model", "fake"), "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}

    def chat_chunks(self, req: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
        full = self.chat_completion(req)
        head = {k: full[k] for k in ("id", "created", "model", "system_fingerprint")}
        head["object"] = "chat.completion.chunk"
        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if include_usage else {}
        message = full["choices"][0]["message"]
        yield dict(head, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                   "finish_reason": None}], **extra)
        if message.get("content"):
            for piece in _pieces(message["content"]):
                yield dict(head, choices=[{"index": 0, "delta": {"content": piece}, "finish_reason": None}], **extra)
        for i, call in enumerate(message.get("tool_calls") or []):
            yield dict(head, choices=[{"index": 0, "delta": {"tool_calls": [
                {"index": i, "id": call["id"], "type": "function",
                 "function": {"name": call["function"]["name"], "arguments": ""}}]}, "finish_reason": None}], **extra)
            for piece in _pieces(call["function"]["arguments"], 4):
                yield dict(head, choices=[{"index": 0, "delta": {"tool_calls": [
                    {"index": i, "function": {"arguments": piece}}]}, "finish_reason": None}], **extra)
        yield dict(head, choices=[{"index": 0, "delta": {}, "finish_reason": full["choices"][0]["finish_reason"]}],
                   **extra)
        if include_usage:
            yield dict(head, choices=[], usage=full["usage"])

    def message(self, req: Dict[str, Any]) -> Dict[str, Any]:
        n = self.next_number()
        text = _last_text(req.get("messages", []))
        content: List[Dict[str, Any]] = [{"type": "text", "text": f"answer #{n} to: {text}"}]
        stop = "end_turn"
        if req.get("tools") and "use the tool" in text:
            content.append({"type": "tool_use", "id": f"toolu_{n}", "name": req["tools"][0]["name"],
                            "input": {"n": n}})
            stop = "tool_use"
        return {"id": f"msg_{n}", "type": "message", "role": "assistant", "model": req.get("model", "fake"),
                "content": content, "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 7}}

    def message_events(self, req: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
        full = self.message(req)
        start = dict(full, content=[], stop_reason=None, usage={"input_tokens": 5, "output_tokens": 1})
        yield {"type": "message_start", "message": start}
        yield {"type": "ping"}
        for i, block in enumerate(full["content"]):
            if block["type"] == "text":
                yield {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}
                for piece in _pieces(block["text"]):
                    yield {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": piece}}
            else:
                yield {"type": "content_block_start", "index": i, "content_block": dict(block, input={})}
                for piece in _pieces(json.dumps(block["input"]), 3):
                    yield {"type": "content_block_delta", "index": i,
                           "delta": {"type": "input_json_delta", "partial_json": piece}}
            yield {"type": "content_block_stop", "index": i}
        yield {"type": "message_delta", "delta": {"stop_reason": full["stop_reason"], "stop_sequence": None},
               "usage": {"output_tokens": 7}}
        yield {"type": "message_stop"}

    # ------------------------------------------------------------------ HTTP

    def _handler(self) -> type:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, events: Iterator[Dict[str, Any]], named: bool, done: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for event in events:
                    prefix = f"event: {event['type']}\n" if named else ""
                    self.wfile.write(f"{prefix}data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                if done:
                    self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                req = json.loads(self.rfile.read(length) or b"{}")
                route = self.path.split("?", 1)[0]
                with fake._lock:
                    fake.calls[route] += 1
                    fake.requests.append((route, req))
                if route == "/v1/chat/completions":
                    if req.get("stream"):
                        self._sse(fake.chat_chunks(req), named=False, done=True)
                    else:
                        self._json(200, fake.chat_completion(req))
                elif route == "/v1/messages":
                    if req.get("stream"):
                        self._sse(fake.message_events(req), named=True, done=False)
                    else:
                        self._json(200, fake.message(req))
                elif route == "/v1/embeddings":
                    texts = req["input"] if isinstance(req["input"], list) else [req["input"]]
                    self._json(200, {"object": "list", "model": req.get("model"), "data": [
                        {"object": "embedding", "index": i, "embedding": _EMBED(t)} for i, t in enumerate(texts)]})
                elif route == "/v2/embed":
                    self._json(200, {"id": "e", "embeddings": {"float": [_EMBED(t) for t in req["texts"]]}})
                else:
                    self._json(404, {"error": f"no route {route}"})

        return Handler
