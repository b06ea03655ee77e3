"""How far to trust a map: does each point keep its neighbours?

A 2-D picture of a 384-D space must tear some neighbourhoods apart. For each
point we take its k nearest neighbours in the full space (the map's metric)
and its k nearest on the map, and report the share of the first that are also
in the second. 1.0: the point's neighbourhood is intact; near 0: whatever sits
next to it on the map is not what is next to it in the model's eyes. The mean
over points is the map's summary number; the per-point values colour the map
so torn regions stand out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ExplorerError
from .projection import Metric, prepared_vectors

DEFAULT_K = 10


@dataclass(frozen=True)
class Trust:
    per_point: np.ndarray  # (n,) share of each point's k full-space neighbours kept on the map, 0..1
    k: int

    @property
    def mean(self) -> float:
        return float(self.per_point.mean())


def _neighbours(points: np.ndarray, k: int) -> np.ndarray:
    """Indices of each point's k nearest other points (euclidean), (n, k)."""
    from sklearn.neighbors import NearestNeighbors

    # kneighbors() without X leaves each point out of its own list, whatever duplicates exist.
    return NearestNeighbors(n_neighbors=k).fit(points).kneighbors(return_distance=False)


def neighbourhood_preservation(embeddings: np.ndarray, coords: np.ndarray, k: int = DEFAULT_K,
                               metric: Metric = "cosine") -> Trust:
    """Per-point share of the k nearest neighbours in `embeddings` that stay among the k nearest in `coords`.

    Cosine neighbours are found as euclidean ones on unit vectors (same order),
    which lets sklearn use its fast exact euclidean path.
    """
    n = len(embeddings)
    if n != len(coords):
        raise ExplorerError(f"{n} vectors but {len(coords)} map positions")
    if n < 3:
        raise ExplorerError("neighbourhood preservation needs at least 3 points")
    k = min(k, n - 1)
    full = _neighbours(prepared_vectors(embeddings, metric), k)
    mapped = _neighbours(np.asarray(coords, dtype=np.float32), k)
    # Row-wise set intersection: sort each row, then count matches with searchsorted on a row offset.
    offsets = (np.arange(n) * n)[:, None]
    mapped_flat = np.sort(mapped + offsets, axis=1).ravel()
    full_flat = (full + offsets).ravel()
    position = np.clip(np.searchsorted(mapped_flat, full_flat), 0, len(mapped_flat) - 1)
    kept = (mapped_flat[position] == full_flat).reshape(n, k).sum(axis=1)
    return Trust(kept / k, k)
