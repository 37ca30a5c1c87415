"""Fixtures: a real ferrocache node (tests/support/ferro_node.py), a fake LLM server, helpers."""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "support"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ferro_node import FerroNode, binary_path, free_port  # noqa: E402

from fake_llm import FakeLLM  # noqa: E402
from ferrocache.embeddings import HashEmbedder  # noqa: E402

AUTH_TOKEN = "test-token-1234"


def _require_binary() -> str:
    path = binary_path()
    if not os.access(path, os.X_OK):
        if os.environ.get("FERROCACHE_BIN"):
            pytest.fail(f"FERROCACHE_BIN={path} is not an executable")
        pytest.skip(f"no ferrocache binary at {path} (build it, or set FERROCACHE_BIN)")
    return path


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FERROCACHE_URL", "FERROCACHE_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerroNode]:
    """One real node for the session; tests keep apart by scope and namespace."""
    _require_binary()
    n = FerroNode(tmp_path_factory.mktemp("ferro") / "data")
    n.start()
    yield n
    n.stop()


@pytest.fixture(scope="session")
def auth_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerroNode]:
    _require_binary()
    n = FerroNode(tmp_path_factory.mktemp("ferro-auth") / "data", env={"FERROCACHE_AUTH_TOKEN": AUTH_TOKEN})
    n.start()
    yield n
    n.stop()


@pytest.fixture
def own_node(tmp_path: Path) -> Iterator[FerroNode]:
    """A node for this test alone (for tests that stop it or count everything on it)."""
    _require_binary()
    n = FerroNode(tmp_path / "data")
    n.start()
    yield n
    n.stop()


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture
def scope() -> str:
    """A cache_scope unique to the test."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def embed() -> HashEmbedder:
    return HashEmbedder(64)


@pytest.fixture
def dead_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"
