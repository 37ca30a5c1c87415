"""Small helpers shared by the integration tests."""
from __future__ import annotations

import json
import math
import random
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ferro_node import request


def unit(v: List[float]) -> List[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def rand_vec(rng: random.Random, dim: int) -> List[float]:
    return unit([rng.gauss(0, 1) for _ in range(dim)])


def with_similarity(base: List[float], sim: float, rng: random.Random) -> List[float]:
    """A unit vector whose cosine similarity to unit `base` is exactly `sim`."""
    r = [rng.gauss(0, 1) for _ in base]
    dot = sum(a * b for a, b in zip(r, base))
    ortho = unit([a - dot * b for a, b in zip(r, base)])
    s = math.sqrt(max(0.0, 1 - sim * sim))
    return [sim * b + s * o for b, o in zip(base, ortho)]


class Api:
    """JSON calls against one node; returns (status, decoded body)."""

    def __init__(self, port: int, token: Optional[str] = None):
        self.port = port
        self.token = token

    def call(self, method: str, path: str, body: Any = None, headers: Optional[Dict[str, str]] = None,
             raw: Optional[bytes] = None) -> Tuple[int, Any]:
        hdrs = dict(headers or {})
        if self.token:
            hdrs.setdefault("Authorization", f"Bearer {self.token}")
        if raw is not None:
            hdrs.setdefault("Content-Type", "application/json")
        status, resp_headers, payload = request(self.port, method, path, body=body, headers=hdrs, raw_body=raw)
        ctype = resp_headers.get("content-type", "")
        if ctype.startswith("application/json"):
            return status, json.loads(payload)
        return status, payload.decode(errors="replace")

    def insert(self, embedding, response="r", query_text="", model_id="m", **kw) -> Tuple[int, Any]:
        body = {"embedding": embedding, "response": response, "query_text": query_text, "model_id": model_id}
        body.update(kw)
        return self.call("POST", "/insert", body)

    def query(self, embedding, model_id="m", **kw) -> Tuple[int, Any]:
        body = {"embedding": embedding, "model_id": model_id}
        body.update(kw)
        return self.call("POST", "/query", body)


def wait_until(pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Polls `pred` until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)  # poll interval of a deadline loop
    raise AssertionError(f"timed out waiting for {what}")
