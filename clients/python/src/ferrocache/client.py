"""Synchronous FerroCache client (standard library only).

One :class:`FerrocacheClient` keeps a small pool of persistent HTTP/1.1
connections and is safe to share between threads: each request checks a
connection out of the pool, so concurrent calls never interleave on a socket.
"""
from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from . import _http
from ._http import Embedding, Endpoint, Request, RetryPolicy
from .errors import FerrocacheConnectionError, FerrocacheError, FerrocacheTimeoutError

# Failures that mean "a kept-alive connection was closed by the server while idle":
# the request never reached it, so it is re-sent at once on a fresh connection.
_STALE_ERRORS = (http.client.RemoteDisconnected, http.client.BadStatusLine, BrokenPipeError,
                 ConnectionResetError, ConnectionAbortedError)


class _ConnectionPool:
    """Idle keep-alive connections to one endpoint, handed out one caller at a time."""

    def __init__(self, endpoint: Endpoint, timeout: float, maxsize: int,
                 ssl_context: Optional[ssl.SSLContext]) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        self._maxsize = max(1, maxsize)
        self._ssl_context = ssl_context
        self._idle: List[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, fresh: bool = False) -> Tuple[http.client.HTTPConnection, bool]:
        """A connection and whether it was used before (and so may have gone stale)."""
        if not fresh:
            with self._lock:
                if self._closed:
                    raise FerrocacheConnectionError("client is closed")
                if self._idle:
                    return self._idle.pop(), True
        return self._new(), False

    def _new(self) -> http.client.HTTPConnection:
        ep = self._endpoint
        if ep.scheme == "https":
            return http.client.HTTPSConnection(ep.host, ep.port, timeout=self._timeout,
                                               context=self._ssl_context or ssl.create_default_context())
        return http.client.HTTPConnection(ep.host, ep.port, timeout=self._timeout)

    def release(self, conn: http.client.HTTPConnection) -> None:
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


class FerrocacheClient:
    """Client for one FerroCache node (or a load balancer in front of a cluster).

    ``base_url`` defaults to ``$FERROCACHE_URL``, then ``http://localhost:3000``;
    ``auth_token`` to ``$FERROCACHE_AUTH_TOKEN``. ``timeout`` (seconds) bounds each
    attempt. Failed attempts that may succeed later (no answer, 429, 502, 503, 504)
    are retried ``max_retries`` times with exponential backoff; every call is
    idempotent (an insert without ``uuid`` gets a client-chosen id, so a retried
    insert replaces rather than duplicates).

    Every method returns the decoded JSON answer (``metrics`` returns the
    Prometheus text) or raises :class:`~ferrocache.FerrocacheError`.
    """

    def __init__(self, base_url: Optional[str] = None, timeout: float = 10.0, auth_token: Optional[str] = None,
                 *, max_retries: int = 2, backoff: float = 0.1, max_backoff: float = 2.0,
                 pool_size: int = 10, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        self.base_url = _http.resolve_base_url(base_url)
        self.timeout = float(timeout)
        self._endpoint = _http.parse_endpoint(self.base_url)
        self._token = _http.resolve_auth_token(auth_token)
        self._retry = RetryPolicy(max_retries=max(0, int(max_retries)), base_delay=backoff, max_delay=max_backoff)
        self._headers = _http.base_headers(self._endpoint, self._token)
        self._pool = _ConnectionPool(self._endpoint, self.timeout, pool_size, ssl_context)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close every pooled connection. The client cannot be used afterwards."""
        self._pool.close()

    def __enter__(self) -> "FerrocacheClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FerrocacheClient({self.base_url!r})"

    # ------------------------------------------------------------------ data routes

    def insert(self, embedding: Embedding, response: str, query_text: str, model_id: str,
               ttl_seconds: Optional[int] = None, cache_scope: Optional[str] = None,
               conversation_id: Optional[str] = None, uuid: Optional[str] = None) -> Dict[str, Any]:
        """Store ``response`` under ``embedding``; returns ``{"id": ..., "status": "ok"}``."""
        return self._call(_http.insert_request(embedding, response, query_text, model_id, ttl_seconds,
                                               cache_scope, conversation_id, uuid))

    def query(self, embedding: Embedding, threshold: Optional[float] = 0.92, model_id: Optional[str] = None,
              query_text: Optional[str] = None, cache_scope: Optional[str] = None,
              conversation_id: Optional[str] = None, max_error_rate: Optional[float] = None,
              check: Optional[str] = None) -> Dict[str, Any]:
        """Look up the nearest entry; ``{"hit": False}`` on a miss.

        ``threshold=None`` uses the server's default (``hnsw.default_threshold``).
        ``max_error_rate`` (0 < d <= 0.5): serve a hit only when the namespace's feedback-calibrated
        error bound allows (with too little feedback the threshold decides); ``check="strict"`` refuses
        hits whose numbers, negation or identifiers disagree with ``query_text`` (docs/quality.md).
        """
        return self._call(_http.query_request(embedding, threshold, model_id, query_text, cache_scope,
                                              conversation_id, max_error_rate, check))

    def feedback(self, id: str, model_id: str, similarity: float, correct: bool,
                 query_text: Optional[str] = None, cache_scope: Optional[str] = None,
                 conversation_id: Optional[str] = None) -> Dict[str, Any]:
        """Report whether a served hit was right; ``{"status": "ok"}`` once durable.

        Pass the hit's ``id``, the namespace it was found in, the ``similarity`` it was served at and
        the query's text when known. Raises ``FerrocacheError`` (404) for an unknown id.
        """
        return self._call(_http.feedback_request(id, model_id, similarity, correct, query_text, cache_scope,
                                                 conversation_id))

    def delete_entry(self, uuid: str) -> Dict[str, Any]:
        """Remove every entry with this id; raises ``FerrocacheError`` (404) when there is none."""
        return self._call(_http.delete_request(uuid))

    def invalidate(self, embedding: Embedding, threshold: float, model_id: str,
                   cache_scope: Optional[str] = None, conversation_id: Optional[str] = None) -> Dict[str, Any]:
        """Remove every entry of the namespace with cosine similarity >= ``threshold`` to ``embedding``."""
        return self._call(_http.invalidate_request(embedding, threshold, model_id, cache_scope, conversation_id))

    # ------------------------------------------------------------------ admin and observability

    def compact(self) -> Dict[str, Any]:
        return self._call(_http.compact_request())

    def entry_stats(self) -> Dict[str, Any]:
        return self._call(_http.get_request("/admin/entry-stats"))

    def health(self) -> Dict[str, Any]:
        """``{"status": "ok", ...}``, or ``{"status": "starting"}`` while the node recovers (no error)."""
        return self._call(_http.health_request())

    def stats(self) -> Dict[str, Any]:
        return self._call(_http.get_request("/stats"))

    def cluster_status(self) -> Dict[str, Any]:
        return self._call(_http.get_request("/cluster/status"))

    def metrics(self) -> str:
        """The Prometheus text exposition."""
        return self._call(_http.get_request("/metrics", expect_json=False))

    # ------------------------------------------------------------------ transport

    def _call(self, req: Request) -> Any:
        attempt = 0
        while True:
            attempt += 1
            can_retry = req.idempotent and attempt <= self._retry.max_retries
            retry_after: Optional[float] = None
            try:
                status, headers, body = self._exchange(req)
            except FerrocacheError:
                if not can_retry:
                    raise
            else:
                if status in req.ok_statuses or not (can_retry and _http.is_retryable_status(status)):
                    return _http.decode_response(req, status, body)
                retry_after = _http.parse_retry_after(headers)
            time.sleep(self._retry.delay(attempt, retry_after))

    def _exchange(self, req: Request) -> Tuple[int, Dict[str, str], bytes]:
        """One attempt: send on a pooled connection, re-sending once on a fresh one if it had gone stale."""
        headers = dict(self._headers)
        headers.update(req.headers)
        target = self._endpoint.target(req.path)
        fresh = False
        for _ in range(2):
            conn, reused = self._pool.acquire(fresh)
            try:
                conn.request(req.method, target, body=req.body, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except _STALE_ERRORS as exc:
                conn.close()
                if reused:
                    fresh = True
                    continue
                raise FerrocacheConnectionError(f"connection to {self.base_url} failed: {exc!r}") from exc
            except (socket.timeout, TimeoutError) as exc:
                conn.close()
                raise FerrocacheTimeoutError(
                    f"no answer from {self.base_url} within {self.timeout}s ({req.method} {req.path})") from exc
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise FerrocacheConnectionError(f"connection to {self.base_url} failed: {exc!r}") from exc
            except BaseException:
                conn.close()
                raise
            if resp.will_close:
                conn.close()
            else:
                self._pool.release(conn)
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
        raise FerrocacheConnectionError(f"connection to {self.base_url} failed")  # pragma: no cover
