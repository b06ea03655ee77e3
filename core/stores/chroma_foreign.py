"""Which model made a Chroma collection that another program filled, and whether it can embed queries here.

Such a collection carries no `embedder` of ours, only what chromadb saved: its
embedding function's name and settings. When those name a model this app runs
(chromadb's default is all-MiniLM-L6-v2, the same model as our `minilm`), or name
none at all (chromadb before 1.0 saved none, and chromadb 1.x queries such a
collection with its default), that model embeds its queries, but only once it has
reproduced a sample of the stored vectors (cosine >= 0.99,
`core.embedders.compare_with_stored`): a saved name is a claim, the vectors are
the evidence. Otherwise the collection is labelled
`imported:<function>` and opens vectors-only: maps, clusters, near-duplicates,
keyword search and "nearest chunks of this chunk" work from the stored vectors;
text queries say why they cannot.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..types import EmbedderInfo

# Saved embedding functions, and their model settings, that mean a model this app runs.
KNOWN_FUNCTIONS = {"default": "minilm", "onnx_mini_lm_l6_v2": "minilm"}
KNOWN_MODELS = {"all-minilm-l6-v2": "minilm", "sentence-transformers/all-minilm-l6-v2": "minilm",
                "text-embedding-3-small": "openai-small", "text-embedding-3-large": "openai-large"}
SAMPLE = 64

_labels: dict[tuple[str, str, int], EmbedderInfo] = {}
_labels_lock = threading.Lock()


def saved_function(raw: Any) -> tuple[str, str]:
    """(embedding function name, model setting) as chromadb saved them for the collection; "" when none."""
    try:
        function = (raw.configuration_json or {}).get("embedding_function") or {}
    except Exception:  # a configuration this chromadb cannot read: as good as none
        return "", ""
    settings = function.get("config") or {}
    model = settings.get("model_name") or settings.get("model") or settings.get("embedder") or ""
    return str(function.get("name") or ""), str(model)


def query_model(function: str, model: str) -> str | None:
    """Our name for the model a saved embedding function names, if this app has it."""
    if function == "embedding-explorer":
        return model or None
    if not function and not model:  # none saved: chromadb itself would query with its default
        return KNOWN_FUNCTIONS["default"]
    return KNOWN_MODELS.get(model.lower()) or KNOWN_FUNCTIONS.get(function)


def foreign_embedder(raw: Any, store_url: str) -> EmbedderInfo:
    """The collection's model (see the module docstring); worked out once per collection and size."""
    key = (store_url, str(raw.id), raw.count())
    with _labels_lock:
        if key in _labels:
            return _labels[key]
    sample = raw.get(limit=SAMPLE, include=["documents", "embeddings"])
    stored = np.asarray(sample["embeddings"], dtype=np.float32) if len(sample["ids"]) else None
    dimension = int(stored.shape[1]) if stored is not None else 0
    function, model = saved_function(raw)
    info = EmbedderInfo(f"imported:{model or function or 'unknown'}", dimension)
    ours = query_model(function, model)
    if ours is not None and stored is not None:
        from ..embedders import EMBEDDERS, compare_with_stored, get_embedder

        spec = EMBEDDERS.get(ours)
        if spec is not None and spec.available and spec.dimension == dimension:
            texts = [t or "" for t in sample["documents"]]
            if compare_with_stored(get_embedder(ours), texts, stored).matches:
                info = EmbedderInfo(ours, dimension)
    with _labels_lock:
        _labels[key] = info
    return info
