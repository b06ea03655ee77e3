"""How alike a handful of texts are to one another, by the cosine of their embeddings.

The similarity page embeds a few short texts and shows the full matrix and the
pairs ranked from most to least alike; this is the arithmetic behind it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .embedders import Embedder, normalise


@dataclass(frozen=True)
class Pair:
    """Two of the compared texts (by position) and the cosine between them."""

    first: int
    second: int
    cosine: float


@dataclass(frozen=True)
class Comparison:
    texts: tuple[str, ...]
    matrix: np.ndarray  # (n, n) cosines, 1 on the diagonal
    pairs: tuple[Pair, ...]  # every unordered pair, most alike first


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """All pairwise cosines; vectors are normalised here, whatever the embedder did."""
    unit = normalise(vectors)
    return np.clip(unit @ unit.T, -1.0, 1.0)


def ranked_pairs(matrix: np.ndarray) -> list[Pair]:
    """Every pair i < j, highest cosine first (ties by position, so the order is stable)."""
    n = matrix.shape[0]
    pairs = [Pair(i, j, float(matrix[i, j])) for i in range(n) for j in range(i + 1, n)]
    return sorted(pairs, key=lambda p: (-p.cosine, p.first, p.second))


def compare(embedder: Embedder, texts: Sequence[str]) -> Comparison:
    """Embed the non-blank texts (stripped, duplicates kept once) and compare them all."""
    unique = tuple(dict.fromkeys(t.strip() for t in texts if t.strip()))
    if not unique:
        return Comparison((), np.zeros((0, 0), dtype=np.float32), ())
    matrix = cosine_matrix(embedder.embed(list(unique)))
    return Comparison(unique, matrix, tuple(ranked_pairs(matrix)))
