"""asyncio FerroCache client with the same API as :class:`~ferrocache.FerrocacheClient`.

Standard library only: a small HTTP/1.1 implementation over ``asyncio`` streams
with persistent keep-alive connections. Requests, answers and the retry policy
come from :mod:`ferrocache._http`, shared with the synchronous client.

Connections belong to the event loop that opened them; a client used from
another loop (a second ``asyncio.run``, another thread) opens its own.
"""
from __future__ import annotations

import asyncio
import ssl
import threading
from typing import Any, Dict, List, Optional, Tuple

from . import _http
from ._http import Embedding, Endpoint, Request, RetryPolicy
from .errors import FerrocacheConnectionError, FerrocacheError, FerrocacheTimeoutError

_MAX_HEAD = 64 * 1024


class _StaleConnection(Exception):
    """A reused connection was closed by the server before it answered."""


class _AsyncConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.reader = reader
        self.writer = writer
        self.loop = loop

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # the loop may already be closed
            pass

    async def exchange(self, data: bytes, reused: bool) -> Tuple[int, Dict[str, str], bytes, bool]:
        try:
            self.writer.write(data)
            await self.writer.drain()
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if reused and not exc.partial:
                raise _StaleConnection() from exc
            raise FerrocacheConnectionError("connection closed before a complete answer") from exc
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
            if reused:
                raise _StaleConnection() from exc
            raise
        except asyncio.LimitOverrunError as exc:
            raise FerrocacheConnectionError("answer head too large") from exc
        http10 = head.startswith(b"HTTP/1.0")
        try:
            status, headers = _http.parse_response_head(head[:-4])
        except ValueError as exc:
            raise FerrocacheConnectionError(f"malformed answer: {exc}") from exc
        keep_alive = _http.keeps_alive(http10, headers)
        body = await self._read_body(headers)
        if "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "").lower():
            keep_alive = False
        return status, headers, body, keep_alive

    async def _read_body(self, headers: Dict[str, str]) -> bytes:
        try:
            if "chunked" in headers.get("transfer-encoding", "").lower():
                return await self._read_chunked()
            length = headers.get("content-length")
            if length is not None:
                return await self.reader.readexactly(int(length))
            return await self.reader.read()
        except asyncio.IncompleteReadError as exc:
            raise FerrocacheConnectionError("connection closed in the middle of an answer") from exc

    async def _read_chunked(self) -> bytes:
        parts: List[bytes] = []
        while True:
            size_line = await self.reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # trailers end with an empty line
                while (await self.reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


class _AsyncPool:
    def __init__(self, endpoint: Endpoint, maxsize: int, ssl_context: Optional[ssl.SSLContext]) -> None:
        self._endpoint = endpoint
        self._maxsize = max(1, maxsize)
        self._ssl_context = ssl_context
        self._idle: List[_AsyncConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    async def acquire(self, fresh: bool) -> Tuple[_AsyncConnection, bool]:
        loop = asyncio.get_running_loop()
        if not fresh:
            stale: List[_AsyncConnection] = []
            others: List[_AsyncConnection] = []
            found: Optional[_AsyncConnection] = None
            with self._lock:
                if self._closed:
                    raise FerrocacheConnectionError("client is closed")
                while self._idle:
                    conn = self._idle.pop()
                    if conn.loop is loop:
                        if conn.reader.at_eof():
                            stale.append(conn)
                            continue
                        found = conn
                        break
                    if conn.loop.is_closed():
                        stale.append(conn)
                    else:  # belongs to another live loop: leave it for that loop
                        others.append(conn)
                self._idle.extend(reversed(others))
            for conn in stale:
                conn.close()
            if found is not None:
                return found, True
        ep = self._endpoint
        ctx: Optional[ssl.SSLContext] = None
        if ep.scheme == "https":
            ctx = self._ssl_context or ssl.create_default_context()
        reader, writer = await asyncio.open_connection(ep.host, ep.port, ssl=ctx, limit=_MAX_HEAD)
        return _AsyncConnection(reader, writer, loop), False

    def release(self, conn: _AsyncConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._maxsize:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class AsyncFerrocacheClient:
    """asyncio twin of :class:`~ferrocache.FerrocacheClient`: same constructor, same methods (awaitable)."""

    def __init__(self, base_url: Optional[str] = None, timeout: float = 10.0, auth_token: Optional[str] = None,
                 *, max_retries: int = 2, backoff: float = 0.1, max_backoff: float = 2.0,
                 pool_size: int = 10, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        self.base_url = _http.resolve_base_url(base_url)
        self.timeout = float(timeout)
        self._endpoint = _http.parse_endpoint(self.base_url)
        self._token = _http.resolve_auth_token(auth_token)
        self._retry = RetryPolicy(max_retries=max(0, int(max_retries)), base_delay=backoff, max_delay=max_backoff)
        self._headers = _http.base_headers(self._endpoint, self._token)
        self._pool = _AsyncPool(self._endpoint, pool_size, ssl_context)

    async def aclose(self) -> None:
        self._pool.close()

    def close(self) -> None:
        self._pool.close()

    async def __aenter__(self) -> "AsyncFerrocacheClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncFerrocacheClient({self.base_url!r})"

    # ------------------------------------------------------------------ data routes

    async def insert(self, embedding: Embedding, response: str, query_text: str, model_id: str,
                     ttl_seconds: Optional[int] = None, cache_scope: Optional[str] = None,
                     conversation_id: Optional[str] = None, uuid: Optional[str] = None) -> Dict[str, Any]:
        return await self._call(_http.insert_request(embedding, response, query_text, model_id, ttl_seconds,
                                                     cache_scope, conversation_id, uuid))

    async def query(self, embedding: Embedding, threshold: Optional[float] = 0.92, model_id: Optional[str] = None,
                    query_text: Optional[str] = None, cache_scope: Optional[str] = None,
                    conversation_id: Optional[str] = None, max_error_rate: Optional[float] = None,
                    check: Optional[str] = None) -> Dict[str, Any]:
        return await self._call(_http.query_request(embedding, threshold, model_id, query_text, cache_scope,
                                                    conversation_id, max_error_rate, check))

    async def feedback(self, id: str, model_id: str, similarity: float, correct: bool,
                       query_text: Optional[str] = None, cache_scope: Optional[str] = None,
                       conversation_id: Optional[str] = None) -> Dict[str, Any]:
        """Report whether a served hit was right; ``{"status": "ok"}`` once durable.

        Pass the hit's ``id``, the namespace it was found in, the ``similarity`` it was served at and
        the query's text when known. Raises ``FerrocacheError`` (404) for an unknown id.
        """
        return await self._call(_http.feedback_request(id, model_id, similarity, correct, query_text,
                                                       cache_scope, conversation_id))

    async def delete_entry(self, uuid: str) -> Dict[str, Any]:
        return await self._call(_http.delete_request(uuid))

    async def invalidate(self, embedding: Embedding, threshold: float, model_id: str,
                         cache_scope: Optional[str] = None, conversation_id: Optional[str] = None) -> Dict[str, Any]:
        return await self._call(_http.invalidate_request(embedding, threshold, model_id, cache_scope,
                                                         conversation_id))

    # ------------------------------------------------------------------ admin and observability

    async def compact(self) -> Dict[str, Any]:
        return await self._call(_http.compact_request())

    async def entry_stats(self) -> Dict[str, Any]:
        return await self._call(_http.get_request("/admin/entry-stats"))

    async def health(self) -> Dict[str, Any]:
        return await self._call(_http.health_request())

    async def stats(self) -> Dict[str, Any]:
        return await self._call(_http.get_request("/stats"))

    async def cluster_status(self) -> Dict[str, Any]:
        return await self._call(_http.get_request("/cluster/status"))

    async def metrics(self) -> str:
        return await self._call(_http.get_request("/metrics", expect_json=False))

    # ------------------------------------------------------------------ transport

    async def _call(self, req: Request) -> Any:
        attempt = 0
        while True:
            attempt += 1
            can_retry = req.idempotent and attempt <= self._retry.max_retries
            retry_after: Optional[float] = None
            try:
                status, headers, body = await self._exchange(req)
            except FerrocacheError:
                if not can_retry:
                    raise
            else:
                if status in req.ok_statuses or not (can_retry and _http.is_retryable_status(status)):
                    return _http.decode_response(req, status, body)
                retry_after = _http.parse_retry_after(headers)
            await asyncio.sleep(self._retry.delay(attempt, retry_after))

    async def _exchange(self, req: Request) -> Tuple[int, Dict[str, str], bytes]:
        data = _http.serialize_request(self._endpoint, req, self._headers)
        fresh = False
        for _ in range(2):
            conn: Optional[_AsyncConnection] = None
            try:
                opened, reused = await asyncio.wait_for(self._pool.acquire(fresh), self.timeout)
                conn = opened
                status, headers, body, keep_alive = await asyncio.wait_for(opened.exchange(data, reused),
                                                                           self.timeout)
            except _StaleConnection:
                if conn is not None:
                    conn.close()
                fresh = True
                continue
            except asyncio.TimeoutError as exc:
                if conn is not None:
                    conn.close()
                raise FerrocacheTimeoutError(
                    f"no answer from {self.base_url} within {self.timeout}s ({req.method} {req.path})") from exc
            except FerrocacheError:
                if conn is not None:
                    conn.close()
                raise
            except (OSError, ValueError) as exc:
                if conn is not None:
                    conn.close()
                raise FerrocacheConnectionError(f"connection to {self.base_url} failed: {exc!r}") from exc
            except BaseException:
                if conn is not None:
                    conn.close()
                raise
            if keep_alive:
                self._pool.release(opened)
            else:
                opened.close()
            return status, headers, body
        raise FerrocacheConnectionError(f"connection to {self.base_url} failed")  # pragma: no cover
