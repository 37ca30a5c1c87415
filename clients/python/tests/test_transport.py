"""Request building, retries, keep-alive and error mapping of both clients, against a scripted local server.

These check the client's own logic (what goes on the wire, when it retries);
the behaviour of the cache itself is tested against the real node elsewhere.
"""
from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from ferrocache import AsyncFerrocacheClient, FerrocacheClient, FerrocacheError
from ferrocache import _http
from ferrocache.errors import FerrocacheConnectionError, FerrocacheTimeoutError

Reply = Tuple[int, Dict[str, str], bytes]


class _Server(ThreadingHTTPServer):
    request_queue_size = 64


class Scripted:
    """Answers requests from a script of replies; records requests and client ports."""

    def __init__(self) -> None:
        self.replies: List[Any] = []
        self.seen: List[Dict[str, Any]] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer.lock:
                    outer.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                       "body": body, "port": self.client_address[1]})
                    reply = outer.replies.pop(0) if outer.replies else (200, {}, b"{}")
                if reply == "hang":
                    outer.release.wait(10)
                    return
                status, headers, data = reply[:3]
                drop_after = len(reply) > 3 and reply[3] == "drop"
                self.send_response(status)
                headers = {"Content-Type": "application/json", **headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if drop_after:  # keep-alive announced, then the server closes the idle connection
                    self.wfile.flush()
                    self.close_connection = True

            do_GET = do_POST = do_DELETE = _any

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def ok(body: Any, status: int = 200, headers: Optional[Dict[str, str]] = None) -> Reply:
    return status, headers or {}, json.dumps(body).encode()


@pytest.fixture
def srv() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.close()


def fast(url: str, **kw: Any) -> FerrocacheClient:
    kw.setdefault("backoff", 0.001)
    return FerrocacheClient(url, **kw)


def afast(url: str, **kw: Any) -> AsyncFerrocacheClient:
    kw.setdefault("backoff", 0.001)
    return AsyncFerrocacheClient(url, **kw)


# --------------------------------------------------------------------------- pure helpers

def test_endpoint_parsing_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = _http.parse_endpoint("http://cache.internal:8080/prefix/")
    assert (ep.scheme, ep.host, ep.port, ep.base_path) == ("http", "cache.internal", 8080, "/prefix")
    assert ep.target("/query") == "/prefix/query"
    assert _http.parse_endpoint("localhost:3000").port == 3000
    assert _http.parse_endpoint("https://x").port == 443
    with pytest.raises(ValueError):
        _http.parse_endpoint("ftp://x")
    assert _http.resolve_base_url(None) == "http://localhost:3000"
    monkeypatch.setenv("FERROCACHE_URL", "http://elsewhere:1")
    assert _http.resolve_base_url(None) == "http://elsewhere:1"
    assert _http.resolve_base_url("http://given:2") == "http://given:2"


def test_request_bodies() -> None:
    req = _http.insert_request([1, 0.5], "r", "q", "m::2", ttl_seconds=5, cache_scope="  ", conversation_id="c")
    body = json.loads(req.body)
    assert body["embedding"] == [1.0, 0.5] and body["ttl_seconds"] == 5 and body["conversation_id"] == "c"
    assert "cache_scope" not in body  # blank optional strings are not sent
    assert len(body["uuid"]) == 36 and body["uuid"] == body["uuid"].lower()
    req = _http.query_request([1.0], threshold=None, model_id="m")
    assert "threshold" not in json.loads(req.body)
    with pytest.raises(ValueError):
        _http.query_request([1.0], model_id=None)
    with pytest.raises(ValueError):
        _http.insert_request([float("nan")], "r", "q", "m")
    with pytest.raises(ValueError):
        _http.delete_request("a/b")
    assert _http.delete_request("a b").path == "/entry/a%20b"


def test_retry_policy_backoff_bounds() -> None:
    policy = _http.RetryPolicy(max_retries=5, base_delay=0.1, max_delay=1.0)
    for attempt in range(1, 8):
        d = policy.delay(attempt)
        ceiling = min(1.0, 0.1 * 2 ** (attempt - 1))
        assert ceiling / 2 <= d <= ceiling
    assert policy.delay(1, retry_after=30) == 1.0
    assert _http.parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert _http.parse_retry_after({"retry-after": "soon"}) is None


# --------------------------------------------------------------------------- sync client

def test_error_carries_status_and_message(srv: Scripted) -> None:
    srv.replies = [ok({"error": "dimension mismatch"}, 400)]
    with fast(srv.url) as c, pytest.raises(FerrocacheError) as info:
        c.query([1.0], model_id="m")
    assert info.value.status == 400 and info.value.message == "dimension mismatch"
    assert len(srv.seen) == 1  # a 400 is not retried


def test_retries_overload_then_succeeds(srv: Scripted) -> None:
    srv.replies = [ok({"error": "busy"}, 503), ok({"error": "busy"}, 429, {"Retry-After": "0"}), ok({"hit": False})]
    with fast(srv.url, max_retries=2) as c:
        assert c.query([1.0], model_id="m") == {"hit": False}
    assert len(srv.seen) == 3


def test_gives_up_after_max_retries(srv: Scripted) -> None:
    srv.replies = [ok({"error": "busy"}, 503)] * 3
    with fast(srv.url, max_retries=1) as c, pytest.raises(FerrocacheError) as info:
        c.stats()
    assert info.value.status == 503 and len(srv.seen) == 2


def test_insert_retry_reuses_client_chosen_id(srv: Scripted) -> None:
    srv.replies = [ok({"error": "peer timeout"}, 504), ok({"id": "x", "status": "ok"})]
    with fast(srv.url) as c:
        c.insert([1.0, 2.0], "resp", "q", "m::2")
    ids = [json.loads(s["body"])["uuid"] for s in srv.seen]
    assert len(ids) == 2 and ids[0] == ids[1]


def test_keep_alive_reuses_one_connection(srv: Scripted) -> None:
    with fast(srv.url) as c:
        for _ in range(5):
            c.health()
    assert len({s["port"] for s in srv.seen}) == 1


def test_stale_keep_alive_connection_is_replaced(srv: Scripted) -> None:
    srv.replies = [ok({"status": "ok"}) + ("drop",), ok({"status": "ok"})]
    with fast(srv.url, max_retries=0) as c:
        c.health()
        assert c.health() == {"status": "ok"}
    assert len(srv.seen) == 2


def test_auth_header_from_argument_and_env(srv: Scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    with fast(srv.url, auth_token="abc") as c:
        c.stats()
    monkeypatch.setenv("FERROCACHE_AUTH_TOKEN", "from-env")
    with fast(srv.url) as c:
        c.stats()
    with fast(srv.url, auth_token="explicit") as c:
        c.stats()
    auths = [s["headers"].get("Authorization") for s in srv.seen]
    assert auths == ["Bearer abc", "Bearer from-env", "Bearer explicit"]


def test_health_503_is_a_report(srv: Scripted) -> None:
    srv.replies = [ok({"status": "starting"}, 503)]
    with fast(srv.url) as c:
        assert c.health() == {"status": "starting"}
    assert len(srv.seen) == 1


def test_metrics_is_text_and_non_json_error(srv: Scripted) -> None:
    srv.replies = [(200, {"Content-Type": "text/plain; version=0.0.4"}, b"ferrocache_up 1\n"),
                   (500, {"Content-Type": "text/plain"}, b"boom")]
    with fast(srv.url) as c:
        assert c.metrics() == "ferrocache_up 1\n"
        with pytest.raises(FerrocacheError) as info:
            c.compact()
    assert info.value.status == 500 and info.value.message == "boom"


def test_connection_refused(dead_url: str) -> None:
    with fast(dead_url, max_retries=1) as c, pytest.raises(FerrocacheConnectionError) as info:
        c.health()
    assert info.value.status is None and isinstance(info.value, FerrocacheError)


def test_timeout(srv: Scripted) -> None:
    srv.replies = ["hang"]
    with fast(srv.url, timeout=0.3, max_retries=0) as c, pytest.raises(FerrocacheTimeoutError):
        c.stats()


def test_delete_path_and_method(srv: Scripted) -> None:
    srv.replies = [ok({"deleted": True})]
    with fast(srv.url) as c:
        assert c.delete_entry("abc-1") == {"deleted": True}
    assert (srv.seen[0]["method"], srv.seen[0]["path"]) == ("DELETE", "/entry/abc-1")


def test_base_path_prefix(srv: Scripted) -> None:
    with fast(srv.url + "/cache/") as c:
        c.cluster_status()
    assert srv.seen[0]["path"] == "/cache/cluster/status"


def test_shared_between_threads(srv: Scripted) -> None:
    errors: List[BaseException] = []
    with fast(srv.url, pool_size=4) as c:
        def work() -> None:
            try:
                for _ in range(10):
                    assert c.health() == {}
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert not errors and len(srv.seen) == 60


# --------------------------------------------------------------------------- async client

async def test_async_retries_and_keep_alive(srv: Scripted) -> None:
    srv.replies = [ok({"error": "busy"}, 503), ok({"hit": False}), ok({"hit": False}), ok({"hit": False})]
    async with afast(srv.url) as c:
        for _ in range(3):
            assert await c.query([1.0], model_id="m") == {"hit": False}
    assert len(srv.seen) == 4
    assert len({s["port"] for s in srv.seen}) == 1


async def test_async_error_and_auth(srv: Scripted) -> None:
    srv.replies = [ok({"error": "unauthorized"}, 401)]
    async with afast(srv.url, auth_token="tok") as c:
        with pytest.raises(FerrocacheError) as info:
            await c.entry_stats()
    assert info.value.status == 401 and info.value.message == "unauthorized"
    assert srv.seen[0]["headers"]["Authorization"] == "Bearer tok"


async def test_async_stale_connection_and_timeout(srv: Scripted) -> None:
    srv.replies = [ok({"a": 1}) + ("drop",), ok({"a": 2}), "hang"]
    async with afast(srv.url, timeout=0.3, max_retries=0) as c:
        assert await c.stats() == {"a": 1}
        assert await c.stats() == {"a": 2}
        with pytest.raises(FerrocacheTimeoutError):
            await c.stats()


async def test_async_connection_refused(dead_url: str) -> None:
    async with afast(dead_url, max_retries=0) as c:
        with pytest.raises(FerrocacheConnectionError):
            await c.health()


async def test_async_concurrent_requests(srv: Scripted) -> None:
    async with afast(srv.url, pool_size=3) as c:
        results = await asyncio.gather(*(c.health() for _ in range(20)))
    assert results == [{}] * 20 and len(srv.seen) == 20


def test_async_client_survives_a_new_event_loop(srv: Scripted) -> None:
    c = afast(srv.url)
    assert asyncio.run(c.health()) == {}
    assert asyncio.run(c.health()) == {}  # the first loop is closed: a new connection is opened
    c.close()
    assert len(srv.seen) == 2
