"""Runs every code block of docs/python.md marked ``<!-- tested -->``, verbatim, in a fresh interpreter.

The node is the real one; the OpenAI, Anthropic and Voyage endpoints the
examples reach through the SDKs' usual environment variables are the local
fake LLM server.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "python.md"
BLOCK = re.compile(r"<!-- tested -->\n```python\n(.*?)```", re.S)


def blocks() -> List[str]:
    return BLOCK.findall(DOC.read_text())


def test_the_doc_has_tested_examples() -> None:
    assert len(blocks()) >= 7


@pytest.mark.parametrize("index", range(len(blocks())))
def test_doc_example_runs(index: int, node, fake_llm) -> None:
    env = dict(os.environ, FERROCACHE_URL=node.url, OPENAI_BASE_URL=fake_llm.url + "/v1", OPENAI_API_KEY="sk-doc",
               ANTHROPIC_BASE_URL=fake_llm.url, ANTHROPIC_API_KEY="sk-ant-doc", VOYAGE_BASE_URL=fake_llm.url + "/v1",
               VOYAGE_API_KEY="pa-doc")
    env.pop("FERROCACHE_AUTH_TOKEN", None)
    proc = subprocess.run([sys.executable, "-c", blocks()[index]], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if index == 0:  # the first example: a miss, then an exact-match hit
        lines = proc.stdout.splitlines()
        assert lines[0].startswith("False None") and lines[1].startswith("True 1.0"), proc.stdout
