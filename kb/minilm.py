"""all-MiniLM-L6-v2 sentence embeddings in numpy, read straight from the packaged weights.

The model is a 6-layer BERT encoder (hidden 384, 12 heads) followed by mean pooling over the real
tokens and L2 normalisation, exactly the three modules of the sentence-transformers folder. Running
it here takes the ``tokenizers`` tokenizer and the safetensors weights only, so that no Dask worker
imports sentence-transformers, transformers or torch (seconds and hundreds of MB each) for a few
short label texts. tests/test_kb.py checks that the vectors equal sentence-transformers' own to 1e-5.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from scipy.special import erf
from tokenizers import Tokenizer


class MiniLM:
    """Encode texts to unit-length 384-d vectors (the sentence-transformers recipe)."""

    def __init__(self, folder: Path) -> None:
        cfg = json.loads((folder / "config.json").read_text())
        max_len = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.heads = cfg["num_attention_heads"]
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg["layer_norm_eps"]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_len)
        self.tokenizer.enable_padding(pad_id=cfg["pad_token_id"], pad_token="[PAD]")  # to the longest text
        w = load_file(str(folder / "model.safetensors"))
        # weights stored (out, in); kept transposed once so every linear layer is one matmul
        self.w = {k: (np.ascontiguousarray(v.T) if k.endswith(".weight") and v.ndim == 2 and "embeddings" not in k
                      else v).astype(np.float32) for k, v in w.items()}

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        w = self.w[f"{name}.weight"]  # one 2-D matmul: faster than numpy's batched 3-D path
        return (x.reshape(-1, x.shape[-1]) @ w).reshape(*x.shape[:-1], w.shape[1]) + self.w[f"{name}.bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[f"{name}.weight"] + self.w[f"{name}.bias"]

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), np.float32)
        # batches of similar length: each is padded to its longest text, so mixed lengths waste work
        order = np.argsort([len(t) for t in texts], kind="stable")
        sorted_texts = [texts[i] for i in order]
        out = np.concatenate([self._encode(sorted_texts[i:i + batch_size])
                              for i in range(0, len(texts), batch_size)])
        return out[np.argsort(order)]

    def _encode(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc])
        types = np.array([e.type_ids for e in enc])
        mask = np.array([e.attention_mask for e in enc], dtype=bool)
        w, (b, n) = self.w, ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = self._norm(x, "embeddings.LayerNorm")
        # (b, 1, 1, n): every query attends to the real tokens only
        masked = np.where(mask[:, None, None, :], np.float32(0), np.float32(-np.inf))
        d = x.shape[-1] // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}"

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(b, n, self.heads, d).transpose(0, 2, 1, 3)

            q, k, v = (split(self._linear(x, f"{p}.attention.self.{m}")) for m in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(d)) + masked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            a = (scores / scores.sum(-1, keepdims=True)) @ v
            a = a.transpose(0, 2, 1, 3).reshape(b, n, -1)
            x = self._norm(x + self._linear(a, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm")
            h = self._linear(x, f"{p}.intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / np.float32(np.sqrt(2.0))))  # exact GELU, as BERT's
            x = self._norm(x + self._linear(h, f"{p}.output.dense"), f"{p}.output.LayerNorm")
        m = mask[..., None].astype(x.dtype)
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)
