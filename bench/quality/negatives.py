"""Hard negatives: sentences that look almost like a cached one but mean
something else, made by rule from the cached sentence itself.

- ``negation``: the polarity of the first clause flips ("is" -> "is not",
  "can" -> "cannot", "does not X" -> "does X", "allows" -> "does not allow").
- ``number``: the first number changes (a version's major part or an
  integer goes up, a year goes down).
- ``entity``: the first known entity becomes another of its kind
  (PyTorch -> TensorFlow, CSV -> JSON, True -> False, audio -> image, ...);
  failing that, the first identifier in backticks becomes another
  identifier of the same shape taken from a different sentence
  (`map()` -> `filter()`).

Each rule changes one thing, deterministically (the identifier pool is
drawn with a fixed seed), and a sentence that no rule applies to gives no
negative of that kind. The rules are crude by design: the point is that
the text stays almost the same while the answer would be wrong.
"""
from __future__ import annotations

import random
import re
from typing import Dict, List, Optional, Sequence, Tuple

KINDS = ("negation", "number", "entity")

_AUX_NOT = re.compile(r"\b(does|do|did|is|are|was|were|should|would|could|will|must|has|have|may|might) not\b")
_CANNOT = re.compile(r"\bcannot\b")
_CONTRACTED = {"doesn't": "does", "don't": "do", "didn't": "did", "isn't": "is", "aren't": "are", "wasn't": "was",
               "weren't": "were", "can't": "can", "couldn't": "could", "shouldn't": "should", "wouldn't": "would",
               "won't": "will", "hasn't": "has", "haven't": "have", "mustn't": "must"}
_CONTRACTED_RE = re.compile(r"\b(" + "|".join(re.escape(k) for k in _CONTRACTED) + r")", re.IGNORECASE)
_AUX = re.compile(r"\b(is|are|was|were|can|should|will|must|could|would|may|might)\b")
# Third-person verbs common in documentation, with their base form.
_VERBS = {
    "allows": "allow", "supports": "support", "returns": "return", "contains": "contain", "requires": "require",
    "uses": "use", "provides": "provide", "includes": "include", "enables": "enable", "creates": "create",
    "loads": "load", "takes": "take", "accepts": "accept", "has": "have", "needs": "need", "lets": "let",
    "gives": "give", "makes": "make", "stores": "store", "converts": "convert", "downloads": "download",
    "shows": "show", "saves": "save", "removes": "remove", "adds": "add", "applies": "apply",
    "generates": "generate", "defines": "define", "specifies": "specify", "produces": "produce",
    "means": "mean", "refers": "refer", "represents": "represent", "describes": "describe",
    "computes": "compute", "iterates": "iterate", "caches": "cache", "works": "work", "helps": "help",
    "yields": "yield", "handles": "handle", "keeps": "keep", "writes": "write", "reads": "read",
    "sets": "set", "gets": "get", "checks": "check", "builds": "build", "splits": "split", "maps": "map",
    "filters": "filter", "indicates": "indicate", "determines": "determine", "controls": "control",
    "depends": "depend", "occurs": "occur", "happens": "happen", "exists": "exist", "belongs": "belong",
    "offers": "offer", "consists": "consist", "performs": "perform", "processes": "process",
}
_VERB_RE = re.compile(r"\b(" + "|".join(_VERBS) + r")\b")


def negate(s: str) -> Optional[str]:
    """The sentence with the polarity of its first clause flipped, or None."""
    candidates = []
    for m in _AUX_NOT.finditer(s):
        candidates.append((m.start(), m.end(), m.group(1)))
        break
    for m in _CANNOT.finditer(s):
        candidates.append((m.start(), m.end(), "can"))
        break
    for m in _CONTRACTED_RE.finditer(s):
        word = m.group(1)
        base = _CONTRACTED[word.lower()]
        candidates.append((m.start(), m.end(), base.capitalize() if word[0].isupper() else base))
        break
    if candidates:  # a negative sentence: remove its first negation
        start, end, repl = min(candidates)
        return s[:start] + repl + s[end:]
    if s.startswith("No, "):
        return "Yes, " + s[4:]
    aux = _AUX.search(s)
    verb = _VERB_RE.search(s)
    if aux and (not verb or aux.start() < verb.start()):
        w = aux.group(1)
        return s[:aux.start()] + ("cannot" if w == "can" else w + " not") + s[aux.end():]
    if verb:
        return s[:verb.start()] + "does not " + _VERBS[verb.group(1)] + s[verb.end():]
    return None


_VERSION = re.compile(r"\bv(\d+)((?:\.\d+)+)\b")
_NUMBER = re.compile(r"(?<![\w.])(\d+)((?:\.\d+)*)(?![\w])")


def _bump(n: int) -> int:
    if 1900 <= n <= 2100:  # a year
        return n - 2
    if n < 10:
        return n + 1
    return n * 2


def _list_marker(s: str, m: re.Match) -> bool:
    """ "1)" anywhere, or "2." opening a line: renumbering a list changes no meaning."""
    after = s[m.end():m.end() + 1]
    line_start = s[:m.start()].rsplit("\n", 1)[-1].strip() == ""
    return after == ")" or (after == "." and line_start)


def change_number(s: str) -> Optional[str]:
    """The sentence with its first number changed, or None when it has none."""
    v = _VERSION.search(s)
    m = next((x for x in _NUMBER.finditer(s) if not _list_marker(s, x)), None)
    if v and (not m or v.start() <= m.start()):
        return s[:v.start()] + f"v{int(v.group(1)) + 1}{v.group(2)}" + s[v.end():]
    if m:
        head = int(m.group(1))
        new = (str(head + 1) if m.group(2) else str(_bump(head))) + m.group(2)
        return s[:m.start()] + new + s[m.end():]
    return None


# Entities of one kind swap among themselves (each maps to the next of its row).
_ENTITY_ROWS = [
    ["PyTorch", "TensorFlow", "JAX"],
    ["NumPy", "Pandas", "Polars"],
    ["CSV", "JSON", "Parquet"],
    ["Arrow", "SQLite"],
    ["True", "False"],
    ["audio", "image"],
    ["images", "audio files"],
    ["GPU", "CPU"],
    ["Windows", "Linux", "macOS"],
    ["S3", "Google Cloud Storage"],
    ["Python", "JavaScript"],
    ["train", "test"],
    ["rows", "columns"],
    ["row", "column"],
    ["local", "remote"],
    ["streaming", "batch"],
    ["English", "French"],
]
_ENTITY_MAP: Dict[str, str] = {}
for _row in _ENTITY_ROWS:
    for _i, _name in enumerate(_row):
        _ENTITY_MAP.setdefault(_name, _row[(_i + 1) % len(_row)])
_ENTITY_RE = re.compile(r"(?<![\w])(" + "|".join(sorted(map(re.escape, _ENTITY_MAP), key=len, reverse=True)) +
                        r")(?![\w])")
_BACKTICK = re.compile(r"`([^`]+)`")


def _shape(ident: str) -> str:
    if "=" in ident or " " in ident:
        return "expression"
    if re.fullmatch(r"[\w/-]+\.[A-Za-z]{1,5}", ident):
        return "file"
    if "(" in ident:
        return "call"
    if re.fullmatch(r"[A-Z][A-Za-z0-9]+", ident):
        return "class"
    return "name"


class EntitySwapper:
    """Swaps the first known entity, else the first backticked identifier."""

    def __init__(self, corpus: Sequence[str], seed: int = 7):
        pool: Dict[str, List[str]] = {}
        for s in corpus:
            for ident in _BACKTICK.findall(s):
                pool.setdefault(_shape(ident), [])
                if ident not in pool[_shape(ident)]:
                    pool[_shape(ident)].append(ident)
        self.pool = {k: sorted(v) for k, v in pool.items()}
        self.seed = seed

    def __call__(self, s: str) -> Optional[str]:
        # The first entity whose replacement is not in the sentence already ("train, test" stays).
        m = next((x for x in _ENTITY_RE.finditer(s)
                  if not re.search(r"(?<![\w])" + re.escape(_ENTITY_MAP[x.group(1)]) + r"(?![\w])", s)), None)
        b = _BACKTICK.search(s)
        if m and (not b or m.start() < b.start()):
            return s[:m.start()] + _ENTITY_MAP[m.group(1)] + s[m.end():]
        if b:
            ident = b.group(1)
            present = set(_BACKTICK.findall(s))
            choices = [x for x in self.pool.get(_shape(ident), []) if x not in present and x.lower() != ident.lower()]
            if not choices:
                return None
            rng = random.Random(f"{self.seed}:{s}")  # per sentence: independent of the order of the corpus
            return s[:b.start()] + "`" + rng.choice(choices) + "`" + s[b.end():]
        return None


def hard_negatives(sentences: Sequence[str]) -> List[Tuple[int, str, str]]:
    """(index of the source sentence, kind, text) for every rule that applies and changes the text."""
    swap = EntitySwapper(sentences)
    out = []
    for i, s in enumerate(sentences):
        for kind, fn in (("negation", negate), ("number", change_number), ("entity", swap)):
            t = fn(s)
            if t is not None and " ".join(t.lower().split()) != " ".join(s.lower().split()):
                out.append((i, kind, t))
    return out
