"""Transport-independent parts of the FerroCache client.

Building requests (routes, JSON bodies, headers), decoding answers into Python
objects or :class:`FerrocacheError`, and the retry policy live here, so the
synchronous and the asyncio clients share one implementation and differ only
in how bytes move.
"""
from __future__ import annotations

import json
import math
import os
import random
import uuid as uuid_mod
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote, urlsplit

from ._version import __version__
from .errors import FerrocacheError

DEFAULT_URL = "http://localhost:3000"
URL_ENV = "FERROCACHE_URL"
TOKEN_ENV = "FERROCACHE_AUTH_TOKEN"
USER_AGENT = f"ferrocache-python/{__version__}"

#: Answers worth trying again: overload, not ready, a peer that did not answer.
RETRY_STATUSES = frozenset({429, 502, 503, 504})

JSON = Any
Embedding = Union[Sequence[float], Any]  # any sequence of numbers, or an object with ``tolist()``


# --------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class Endpoint:
    """Where a node listens, parsed from a base URL such as ``http://host:3000/prefix``."""

    scheme: str
    host: str
    port: int
    base_path: str  # "" or "/prefix" without a trailing slash

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def target(self, path: str) -> str:
        return self.base_path + path


def resolve_base_url(base_url: Optional[str]) -> str:
    """The given URL, else ``$FERROCACHE_URL``, else ``http://localhost:3000``."""
    if base_url and base_url.strip():
        return base_url.strip()
    env = os.environ.get(URL_ENV, "").strip()
    return env or DEFAULT_URL


def resolve_auth_token(auth_token: Optional[str]) -> Optional[str]:
    """The given token, else ``$FERROCACHE_AUTH_TOKEN``, else no token."""
    if auth_token is not None and auth_token.strip():
        return auth_token.strip()
    env = os.environ.get(TOKEN_ENV, "").strip()
    return env or None


def parse_endpoint(base_url: str) -> Endpoint:
    if "://" not in base_url:
        base_url = "http://" + base_url
    parts = urlsplit(base_url)
    scheme = (parts.scheme or "http").lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL scheme {scheme!r} in {base_url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in FerroCache URL {base_url!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    return Endpoint(scheme, parts.hostname, port, parts.path.rstrip("/"))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring ``Retry-After`` up to ``max_delay``."""

    max_retries: int = 2
    base_delay: float = 0.1
    max_delay: float = 2.0

    def delay(self, attempt: int, retry_after: Optional[float] = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


def parse_retry_after(headers: Mapping[str, str]) -> Optional[float]:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


# --------------------------------------------------------------------------- requests

@dataclass
class Request:
    """One HTTP request to a node. ``idempotent`` requests may be retried."""

    method: str
    path: str
    body: Optional[bytes] = None
    headers: Dict[str, str] = field(default_factory=dict)
    idempotent: bool = True
    expect_json: bool = True
    ok_statuses: Tuple[int, ...] = (200,)


def base_headers(endpoint: Endpoint, token: Optional[str]) -> Dict[str, str]:
    headers = {
        "Host": endpoint.host_header,
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
        "Connection": "keep-alive",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _json_body(payload: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(payload, allow_nan=False, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except ValueError as exc:  # NaN or infinity in an embedding
        raise ValueError(f"request is not representable as JSON: {exc}") from None


def json_request(method: str, path: str, payload: Optional[Mapping[str, Any]] = None,
                 *, idempotent: bool = True) -> Request:
    req = Request(method, path, idempotent=idempotent)
    if payload is not None:
        req.body = _json_body(payload)
        req.headers["Content-Type"] = "application/json"
    return req


def as_float_list(embedding: Embedding) -> List[float]:
    """Turn a list, tuple, array or tensor of numbers into a list of Python floats."""
    if hasattr(embedding, "tolist"):
        embedding = embedding.tolist()
    if isinstance(embedding, (str, bytes)) or not isinstance(embedding, Iterable):
        raise TypeError("embedding must be a sequence of numbers")
    out = [float(x) for x in embedding]
    if not out:
        raise ValueError("embedding must not be empty")
    return out


def _put_optional(payload: Dict[str, Any], key: str, value: Optional[str]) -> None:
    if value is not None and str(value).strip():
        payload[key] = value


def new_uuid() -> str:
    return str(uuid_mod.uuid4())


def insert_request(embedding: Embedding, response: str, query_text: str, model_id: str,
                   ttl_seconds: Optional[int] = None, cache_scope: Optional[str] = None,
                   conversation_id: Optional[str] = None, uuid: Optional[str] = None) -> Request:
    # The id is chosen here when the caller gave none: re-sending the same body
    # then replaces the same entry, so the insert is safe to retry.
    payload: Dict[str, Any] = {
        "embedding": as_float_list(embedding),
        "response": response,
        "query_text": query_text if query_text is not None else "",
        "model_id": model_id,
        "uuid": uuid if uuid else new_uuid(),
    }
    if ttl_seconds is not None:
        if int(ttl_seconds) < 0:
            raise ValueError("ttl_seconds must be >= 0")
        payload["ttl_seconds"] = int(ttl_seconds)
    _put_optional(payload, "cache_scope", cache_scope)
    _put_optional(payload, "conversation_id", conversation_id)
    return json_request("POST", "/insert", payload)


def check_quality_args(max_error_rate: Optional[float], check: Optional[str]) -> None:
    """Validates ``max_error_rate`` (0 < d <= 0.5) and ``check`` ("off" | "strict") before a request."""
    if max_error_rate is not None:
        if isinstance(max_error_rate, bool) or not isinstance(max_error_rate, (int, float)):
            raise ValueError("max_error_rate must be a number")
        if not 0.0 < float(max_error_rate) <= 0.5:
            raise ValueError("max_error_rate must be greater than 0 and at most 0.5")
    if check is not None and check not in ("off", "strict"):
        raise ValueError("check must be 'off' or 'strict'")


def query_request(embedding: Embedding, threshold: Optional[float] = 0.92, model_id: Optional[str] = None,
                  query_text: Optional[str] = None, cache_scope: Optional[str] = None,
                  conversation_id: Optional[str] = None, max_error_rate: Optional[float] = None,
                  check: Optional[str] = None) -> Request:
    if model_id is None or not str(model_id).strip():
        raise ValueError("model_id is required (it names the namespace, e.g. 'text-embedding-3-small::1536')")
    check_quality_args(max_error_rate, check)
    payload: Dict[str, Any] = {"embedding": as_float_list(embedding), "model_id": model_id}
    if threshold is not None:
        payload["threshold"] = float(threshold)
    if query_text is not None:
        payload["query_text"] = query_text
    _put_optional(payload, "cache_scope", cache_scope)
    _put_optional(payload, "conversation_id", conversation_id)
    if max_error_rate is not None:
        payload["max_error_rate"] = float(max_error_rate)
    if check is not None:
        payload["check"] = check
    return json_request("POST", "/query", payload)


def feedback_request(id: str, model_id: str, similarity: float, correct: bool, query_text: Optional[str] = None,
                     cache_scope: Optional[str] = None, conversation_id: Optional[str] = None) -> Request:
    if not id or "/" in id:
        raise ValueError("id must be a non-empty string without '/'")
    if model_id is None or not str(model_id).strip():
        raise ValueError("model_id is required")
    if isinstance(similarity, bool) or not isinstance(similarity, (int, float)) or not 0.0 <= float(similarity) <= 1.0:
        raise ValueError("similarity must be a number in [0, 1]")
    if not isinstance(correct, bool):
        raise ValueError("correct must be True or False")
    payload: Dict[str, Any] = {"id": id, "model_id": model_id, "similarity": float(similarity), "correct": correct}
    if query_text:
        payload["query_text"] = query_text
    _put_optional(payload, "cache_scope", cache_scope)
    _put_optional(payload, "conversation_id", conversation_id)
    return json_request("POST", "/feedback", payload)


def delete_request(uuid: str) -> Request:
    if not uuid or "/" in uuid:
        raise ValueError("uuid must be a non-empty string without '/'")
    return json_request("DELETE", "/entry/" + quote(uuid, safe=""))


def invalidate_request(embedding: Embedding, threshold: float, model_id: str,
                       cache_scope: Optional[str] = None, conversation_id: Optional[str] = None) -> Request:
    payload: Dict[str, Any] = {
        "embedding": as_float_list(embedding),
        "threshold": float(threshold),
        "model_id": model_id,
    }
    _put_optional(payload, "cache_scope", cache_scope)
    _put_optional(payload, "conversation_id", conversation_id)
    return json_request("POST", "/admin/invalidate", payload)


def compact_request() -> Request:
    return json_request("POST", "/admin/compact")


def get_request(path: str, *, expect_json: bool = True, ok_statuses: Tuple[int, ...] = (200,)) -> Request:
    req = json_request("GET", path)
    req.expect_json = expect_json
    req.ok_statuses = ok_statuses
    if not expect_json:
        req.headers["Accept"] = "text/plain"
    return req


def health_request() -> Request:
    # /health answers 503 {"status": "starting"} while recovering: that is a report, not an error.
    return get_request("/health", ok_statuses=(200, 503))


# --------------------------------------------------------------------------- answers

def _error_message(status: int, body: bytes) -> Tuple[str, Any]:
    text = body.decode("utf-8", errors="replace")
    try:
        decoded = json.loads(text) if text else None
    except ValueError:
        return (text.strip() or f"HTTP {status}"), text
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
        return decoded["error"], decoded
    return (text.strip() or f"HTTP {status}"), decoded


def decode_response(req: Request, status: int, body: bytes) -> Any:
    """The decoded answer for a successful status, else raise :class:`FerrocacheError`."""
    if status not in req.ok_statuses:
        message, decoded = _error_message(status, body)
        raise FerrocacheError(status, message, decoded)
    if not req.expect_json:
        return body.decode("utf-8", errors="replace")
    try:
        return json.loads(body.decode("utf-8")) if body else {}
    except ValueError:
        raise FerrocacheError(status, "answer is not valid JSON", body[:200]) from None


def is_retryable_status(status: int) -> bool:
    return status in RETRY_STATUSES


# --------------------------------------------------------------------------- raw HTTP/1.1 (asyncio client)

def serialize_request(endpoint: Endpoint, req: Request, headers: Mapping[str, str]) -> bytes:
    lines = [f"{req.method} {endpoint.target(req.path)} HTTP/1.1"]
    all_headers = dict(headers)
    all_headers.update(req.headers)
    if req.body is not None or req.method in ("POST", "PUT", "PATCH"):
        all_headers["Content-Length"] = str(len(req.body or b""))
    for name, value in all_headers.items():
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} contains a line break")
        lines.append(f"{name}: {value}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (req.body or b"")


def parse_response_head(head: bytes) -> Tuple[int, Dict[str, str]]:
    """Status code and lower-cased headers of an HTTP/1.x response head."""
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/"):
        raise ValueError(f"malformed status line {lines[0]!r}")
    status = int(status_line[1])
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line {line!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return status, headers


def keeps_alive(version_line_http10: bool, headers: Mapping[str, str]) -> bool:
    conn = headers.get("connection", "").lower()
    if "close" in conn:
        return False
    if version_line_http10:
        return "keep-alive" in conn
    return True
