"""Replaces one marked section of docs/benchmarks.md and leaves the rest alone.

Sections sit between ``<!-- section:NAME -->`` and ``<!-- /section:NAME -->``.
The file is re-read right before it is written, so a section another tool
rewrote in the meantime is kept.
"""
from __future__ import annotations

import os
from pathlib import Path

SKELETON_SECTIONS = [("single-node", None), ("comparison", "Comparison with GPTCache and Redis"),
                     ("quality", "Answer quality with a real embedding model")]
PLACEHOLDER = "_Not written yet._"


def skeleton() -> str:
    parts = ["# Benchmarks", "",
             "Each section below is maintained separately, between `<!-- section:NAME -->` and "
             "`<!-- /section:NAME -->` markers; tools that regenerate one section leave the others alone.", ""]
    for name, title in SKELETON_SECTIONS:
        parts.append(f"<!-- section:{name} -->")
        if title:
            parts += [f"## {title}", "", PLACEHOLDER]
        parts += [f"<!-- /section:{name} -->", ""]
    return "\n".join(parts)


def _adopt_placeholder(doc: str, name: str, aliases) -> str:
    """A placeholder section under an older name for the same content takes the proper name."""
    for alias in aliases:
        b, e = f"<!-- section:{alias} -->", f"<!-- /section:{alias} -->"
        i, j = doc.find(b), doc.find(e)
        if 0 <= i < j and PLACEHOLDER in doc[i:j]:
            return doc[:i] + f"<!-- section:{name} -->" + doc[i + len(b):j] + f"<!-- /section:{name} -->" + \
                doc[j + len(e):]
    return doc


def write_section(doc_path: Path, name: str, body: str, aliases=()) -> None:
    doc_path = Path(doc_path)
    doc = doc_path.read_text(encoding="utf-8") if doc_path.exists() else skeleton()
    begin, end = f"<!-- section:{name} -->", f"<!-- /section:{name} -->"
    if doc.find(begin) < 0:
        doc = _adopt_placeholder(doc, name, aliases)
    i, j = doc.find(begin), doc.find(end)
    body = body.rstrip("\n") + "\n"
    if i < 0 or j < 0 or j < i:
        doc = doc.rstrip("\n") + f"\n\n{begin}\n{body}{end}\n"
    else:
        doc = doc[:i + len(begin)] + "\n" + body + doc[j:]
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = doc_path.with_name(doc_path.name + f".tmp{os.getpid()}")
    tmp.write_text(doc, encoding="utf-8")
    os.replace(tmp, doc_path)
