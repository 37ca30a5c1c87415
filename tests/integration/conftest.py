"""Fixtures for the integration suite: real ferrocache processes over real HTTP."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

from ferro_node import FerroNode  # noqa: E402


@pytest.fixture
def make_node(tmp_path):
    """Factory: start a node with extra FERROCACHE_* settings; stopped at teardown."""
    nodes = []

    def start(name: str = "node", **env: str) -> FerroNode:
        node = FerroNode(tmp_path / name, env={k: str(v) for k, v in env.items()})
        nodes.append(node)
        return node.start()

    yield start
    for n in nodes:
        n.stop()


@pytest.fixture
def node(make_node) -> FerroNode:
    return make_node()
