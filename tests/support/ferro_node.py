"""Start and stop real `ferrocache` processes for Python tests.

Shared by tests/integration and clients/python/tests. A node runs the real
binary (``FERROCACHE_BIN``, default ``build/ferrocache``) on a free loopback
port with its data in a temporary folder; readiness is polled with a deadline,
never slept for.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

REPO = Path(__file__).resolve().parents[2]


def binary_path() -> str:
    return os.environ.get("FERROCACHE_BIN", str(REPO / "build" / "ferrocache"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FerroNode:
    """One real ferrocache process. Use as a context manager or call start/stop."""

    def __init__(self, data_dir: Path, env: Optional[Dict[str, str]] = None, port: Optional[int] = None):
        self.data_dir = Path(data_dir)
        self.extra_env = dict(env or {})
        self.port = port or free_port()
        self.proc: Optional[subprocess.Popen] = None
        self.paused = False
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-node.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True, timeout: float = 30.0) -> "FerroNode":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update({
            "FERROCACHE_PORT": str(self.port),
            "FERROCACHE_DATA_DIR": str(self.data_dir),
            "FERROCACHE_NODE_ID": env.get("FERROCACHE_NODE_ID", "test-node"),
            "FERROCACHE_LOG_LEVEL": os.environ.get("FERRO_TEST_LOG_LEVEL", "warn"),
            "FERROCACHE_BIND_ADDRESS": "127.0.0.1",
        })
        env.update(self.extra_env)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([binary_path()], env=env, stdout=log, stderr=subprocess.STDOUT,
                                     cwd=str(self.data_dir.parent))
        log.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last_err: Any = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"ferrocache exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                status, _, _ = request(self.port, "GET", "/health", timeout=1.0)
                if status == 200:
                    return
                last_err = status
            except OSError as exc:
                last_err = exc
            time.sleep(0.02)  # poll interval of a deadline loop, not a wait for a condition
        raise TimeoutError(f"node on port {self.port} not ready: {last_err}; {self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        """The process exists and has not exited (it may be paused)."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            if self.paused:
                # A stopped process only acts on a pending SIGTERM once continued.
                self.proc.send_signal(signal.SIGCONT)
        self.paused = False
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing (a hung node, not a dead one)."""
        assert self.running, "pause() needs a running node"
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT after pause()."""
        if self.running:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def __enter__(self) -> "FerroNode":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def request(port: int, method: str, path: str, body: Any = None, headers: Optional[Dict[str, str]] = None,
            timeout: float = 10.0, raw_body: Optional[bytes] = None) -> Tuple[int, Dict[str, str], bytes]:
    """One HTTP request on a fresh connection; returns (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload
    finally:
        conn.close()
