"""The k nearest neighbours of every point of a collection, by cosine, fast enough for 100,000 points.

Exact below EXACT_BELOW points: a blocked matrix product and a partial sort per row.
That is quadratic (at 100,000 points 10^10 similarities, about a minute on 2 cores),
so above it an inverted file: k-means cells over the vectors, and every point
compares itself only with the points of the PROBES cells nearest its own cell's
centre, about PROBES / sqrt(n) of the collection. Neighbours missed that way are
ones near a cell border; `tests/test_knn.py` holds recall against the exact
search on real vectors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .embedders import normalise

EXACT_BELOW = 20_000
PROBES = 12
BLOCK = 2048  # rows per matrix product: 2048 x 20,000 float32 similarities is 160 MB
TRAIN_PER_CELL = 30  # k-means fit on a sample of this many points per cell
# (started from random points: k-means++ seeding of 316 cells cost more than the whole search at 100,000)


@dataclass(frozen=True)
class Neighbours:
    """Row-aligned: point i's k nearest other points, most similar first, and their cosines."""

    index: np.ndarray  # (n, k) int
    similarity: np.ndarray  # (n, k) float32

    @property
    def k(self) -> int:
        return self.index.shape[1]


def _best(similarity: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the columns of the k largest values, largest first."""
    top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(similarity, top, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(values, order, axis=1)


def _search(queries: np.ndarray, query_rows: np.ndarray, vectors: np.ndarray, candidate_rows: np.ndarray | None,
            k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k most similar candidates (all points when `candidate_rows` is None), itself left out."""
    found_index, found_sim = [], []
    candidates = vectors if candidate_rows is None else vectors[candidate_rows]
    for lo in range(0, len(queries), BLOCK):
        rows = query_rows[lo:lo + BLOCK]
        similarity = queries[lo:lo + BLOCK] @ candidates.T
        columns = rows if candidate_rows is None else np.searchsorted(candidate_rows, rows)
        similarity[np.arange(len(rows)), columns] = -np.inf  # a point is not its own neighbour
        top, values = _best(similarity, k)
        found_index.append(top if candidate_rows is None else candidate_rows[top])
        found_sim.append(values)
    return np.concatenate(found_index), np.concatenate(found_sim)


def nearest_neighbours(embeddings: np.ndarray, k: int, exact_below: int = EXACT_BELOW, seed: int = 0) -> Neighbours:
    """The k nearest other points of every point by cosine (k is lowered to n - 1 for tiny sets)."""
    vectors = normalise(np.asarray(embeddings, dtype=np.float32))
    n = len(vectors)
    k = max(1, min(k, n - 1))
    if n <= exact_below:
        index, similarity = _search(vectors, np.arange(n), vectors, None, k)
        return Neighbours(index, similarity.astype(np.float32))
    from sklearn.cluster import KMeans

    cells = int(np.sqrt(n))
    rng = np.random.default_rng(seed)
    train = vectors[rng.choice(n, min(n, cells * TRAIN_PER_CELL), replace=False)]
    centres = normalise(KMeans(n_clusters=cells, init="random", n_init=1, max_iter=20, random_state=seed).fit(train)
                        .cluster_centers_.astype(np.float32))
    cell_of = np.concatenate([np.argmax(vectors[lo:lo + BLOCK * 8] @ centres.T, axis=1)
                              for lo in range(0, n, BLOCK * 8)])
    members = [np.flatnonzero(cell_of == c) for c in range(cells)]
    probes = np.argsort(-(centres @ centres.T), axis=1)[:, :PROBES]
    index = np.zeros((n, k), dtype=np.int64)
    similarity = np.zeros((n, k), dtype=np.float32)
    for c in range(cells):
        rows = members[c]
        if not len(rows):
            continue
        candidates = np.sort(np.concatenate([members[p] for p in probes[c]]))
        want = min(k, len(candidates) - 1)
        found, values = _search(vectors[rows], rows, vectors, candidates, want)
        index[rows, :want], similarity[rows, :want] = found, values
        if want < k:  # a tiny neighbourhood: repeat the farthest found rather than invent one
            index[rows, want:], similarity[rows, want:] = found[:, -1:], values[:, -1:]
    return Neighbours(index, similarity)
