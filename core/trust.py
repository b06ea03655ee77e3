"""How far to trust a map: does each point keep its neighbours?

A 2-D picture of a 384-D space must tear some neighbourhoods apart. For each
point we take its k nearest neighbours in the full space (the map's metric)
and its k nearest on the map, and report the share of the first that are also
in the second. 1.0: the point's neighbourhood is intact; near 0: whatever sits
next to it on the map is not what is next to it in the model's eyes. The mean
over points is the map's summary number; the per-point values colour the map
so torn regions stand out.

The figure is strict: exactly the same 10 of thousands. PCA on sentence embeddings keeps
well under 1 of 10 (0.4 on the sample documents) while the 10 points drawn nearest a
chunk still share its category 94% of the time; UMAP keeps 2.7 of 10 there. Both are
right: one asks "are the true neighbours next to it?", the other "is it among its kind?".
So the page says the figure in words, beside what a random layout would keep and, when
the chunks have categories, beside `category_agreement`; a poor figure comes with a
`suggestion` (on PCA: the neighbourhood-keeping method).

Above TRUST_SAMPLE points the values are measured on a seeded random sample of
points (their neighbours still searched among all points), an unbiased estimate
of the mean at a fraction of the cost: exact kNN in 384-D grows with n squared
(15 s at 50,000 points on 2 cores, about a minute at 100,000).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .errors import ExplorerError
from .projection import DEFAULT_CACHE_DIR, Metric, prepared_vectors, write_cache_file
from .types import content_hash

DEFAULT_K = 10
TRUST_SAMPLE = 2_000  # standard error of the mean about 0.01; 1-2 s at 100,000 points
GOOD, POOR = 0.6, 0.3  # at or above GOOD closeness on the map is a good guide; below POOR a poor one


@dataclass(frozen=True)
class Trust:
    per_point: np.ndarray  # (n,) share of each point's k full-space neighbours kept on the map, 0..1; NaN: not measured
    k: int

    # Worked out once: the page reads them several times a rerun, each a pass over a million points.
    @cached_property
    def mean(self) -> float:
        return float(np.nanmean(self.per_point))

    @cached_property
    def measured(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.per_point)))

    def headline(self) -> str:
        """The figure as a short phrase for a metric tile: "2.7 of 10"."""
        return f"{self.mean * self.k:.1f} of {self.k}"

    def explanation(self) -> str:
        """The number in words, for the reader who does not know what neighbourhood preservation is."""
        n = len(self.per_point)
        verdict = ("closeness on this map is a good guide" if self.mean >= GOOD else
                   "closeness on this map is a rough guide: check neighbours by clicking a point" if self.mean >= POOR
                   else "points drawn close together here are often not close for the model: "
                        "click a point to see its true neighbours")
        sample = "" if self.measured == n else f" (measured on {self.measured:,} random chunks)"
        chance = self.k * min(1.0, self.k / max(n - 1, 1))  # expected share kept by chance, as a count
        return (f"Of the {self.k} chunks the model finds closest to a chunk, on average {self.mean * self.k:.1f} are "
                f"also among the {self.k} drawn closest to it on this map{sample}; a random layout would keep "
                f"{chance:.2g}. So {verdict}.")


def category_agreement(coords: np.ndarray, categories: list[str | None], k: int = DEFAULT_K,
                       sample: int | None = TRUST_SAMPLE, seed: int = 0) -> float | None:
    """Share of each chunk's k nearest map neighbours in its own category (None: fewer than two categories).
    Measured on a seeded sample of `sample` chunks (None: all) that have a category."""
    labels = np.array([c or "" for c in categories], dtype=object)
    if len(set(labels.tolist()) - {""}) < 2 or len(labels) < 3:
        return None
    rows = np.flatnonzero(labels != "")
    if sample is not None and len(rows) > sample:
        rows = np.sort(np.random.default_rng(seed).choice(rows, sample, replace=False))
    nearest = nearest_others(np.asarray(coords, dtype=np.float32), min(k, len(labels) - 1), rows)
    return float((labels[nearest] == labels[rows, None]).mean())


def agreement_words(agreement: float, k: int = DEFAULT_K) -> str:
    return (f"The {k} chunks drawn closest to a chunk share its category {agreement:.0%} of the time.")


def suggestion(trust: Trust, method: str, computing: str | None = None) -> str | None:
    """What to do about a poor figure, as the page says it under the figure; None when there is nothing better to do.
    `method` is the map on screen, `computing` a method being computed in the background to replace it. A PCA
    map short of a good guide points to UMAP; a neighbourhood-keeping map only when its figure is poor."""
    if trust.mean >= (GOOD if method == "pca" else POOR):
        return None
    if method == "pca" and computing in ("umap", "tsne"):
        name = "UMAP" if computing == "umap" else "t-SNE"
        return (f"This is the quick PCA map, shown while the {name} map, which keeps neighbourhoods, is computed "
                "in the background; it replaces this one when ready.")
    if method == "pca":
        return ("PCA flattens the space along its two widest directions and tears most neighbourhoods apart. "
                "Choose UMAP as the method: it keeps several times more of each chunk's neighbours "
                "(computed in the background; this map stays until it is ready).")
    return ("No flat map keeps most of a high-dimensional neighbourhood, even one built for it: read closeness "
            "here as \"similar kind\", not \"most similar\".")


def nearest_others(points: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k nearest other points (euclidean) of every point, or of `rows`, (len, k)."""
    from sklearn.neighbors import NearestNeighbors

    if rows is None:
        # kneighbors() without X leaves each point out of its own list, whatever duplicates exist.
        return NearestNeighbors(n_neighbors=k).fit(points).kneighbors(return_distance=False)
    found = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points[rows], return_distance=False)
    # Drop the row itself; with exact duplicates it may not come first, or not at all (then drop the last).
    own = found == rows[:, None]
    own[~own.any(axis=1), -1] = True
    return found[~own].reshape(len(rows), k)


def neighbourhood_preservation(embeddings: np.ndarray, coords: np.ndarray, k: int = DEFAULT_K,
                               metric: Metric = "cosine", sample: int | None = TRUST_SAMPLE, seed: int = 0) -> Trust:
    """Per-point share of the k nearest neighbours in `embeddings` that stay among the k nearest in `coords`.

    Cosine neighbours are found as euclidean ones on unit vectors (same order),
    which lets sklearn use its fast exact euclidean path. Above `sample` points only a
    seeded random sample of that many is measured (the others are NaN); None measures all.
    """
    n = len(embeddings)
    if n != len(coords):
        raise ExplorerError(f"{n} vectors but {len(coords)} map positions")
    if n < 3:
        raise ExplorerError("neighbourhood preservation needs at least 3 points")
    k = min(k, n - 1)
    rows = None if sample is None or n <= sample else np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))
    full = nearest_others(prepared_vectors(embeddings, metric), k, rows)
    mapped = nearest_others(np.asarray(coords, dtype=np.float32), k, rows)
    m = len(full)
    # Row-wise set intersection: sort each row, then count matches with searchsorted on a row offset.
    offsets = (np.arange(m) * n)[:, None]
    mapped_flat = np.sort(mapped + offsets, axis=1).ravel()
    full_flat = (full + offsets).ravel()
    position = np.clip(np.searchsorted(mapped_flat, full_flat), 0, len(mapped_flat) - 1)
    kept = (mapped_flat[position] == full_flat).reshape(m, k).sum(axis=1)
    if rows is None:
        return Trust(kept / k, k)
    per_point = np.full(n, np.nan)
    per_point[rows] = kept / k
    return Trust(per_point, k)


def cached_preservation(embeddings: np.ndarray, coords: np.ndarray, k: int = DEFAULT_K, metric: Metric = "cosine",
                        *, map_key: str, cache_dir: Path | None = DEFAULT_CACHE_DIR) -> Trust:
    """`neighbourhood_preservation` kept on disk beside the map it measures. `map_key` names the
    map (the points' fingerprint and the projection settings): the same map gives the same values."""
    if cache_dir is None:
        return neighbourhood_preservation(embeddings, coords, k, metric)
    path = cache_dir / f"trust-{content_hash(map_key, str(k), metric, str(TRUST_SAMPLE))[:32]}.npy"
    try:
        per_point = np.load(path)
        if per_point.shape == (len(embeddings),):
            return Trust(per_point, min(k, len(embeddings) - 1))
    except (OSError, ValueError):
        pass  # missing or damaged: measure
    trust = neighbourhood_preservation(embeddings, coords, k, metric)
    buffer = io.BytesIO()
    np.save(buffer, trust.per_point)
    write_cache_file(path, buffer.getvalue())
    return trust
