"""Clusters in the embedding space, each named by its most distinctive words.

Clustering runs on the full vectors (unit length, so euclidean follows cosine),
not on a 2-D map, whose distances are distorted. KMeans takes a cluster count;
HDBSCAN finds its own count and leaves outliers unclustered (label -1). HDBSCAN
works on a 50-D PCA reduction: density estimates in 384 dimensions are both slow
and poor, and 50 components keep most of the variance of sentence embeddings.

Labels come from class-based TF-IDF (c-TF-IDF, as in BERTopic): all texts of a
cluster are one document, a term's weight is its frequency in the cluster times
log(1 + average words per cluster / its frequency across all clusters), so
words common everywhere sink and words peculiar to one cluster rise.
Purity against the category column says how well clusters match the labels
people gave their documents.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from .embedders import normalise
from .errors import ExplorerError
from .types import ProgressCallback, ProgressEvent, no_progress

ClusterMethod = Literal["kmeans", "hdbscan"]
CLUSTER_METHODS: tuple[ClusterMethod, ...] = ("kmeans", "hdbscan")
NOISE = -1
HDBSCAN_DIMS = 50


@dataclass(frozen=True)
class ClusterSettings:
    method: ClusterMethod = "kmeans"
    n_clusters: int = 8  # kmeans
    min_cluster_size: int = 10  # hdbscan
    n_terms: int = 8
    seed: int = 0


@dataclass(frozen=True)
class ClusterInfo:
    id: int
    size: int
    terms: tuple[str, ...]  # most distinctive first
    top_category: str | None  # the commonest category in the cluster (None: no categories)
    purity: float | None  # share of the cluster in top_category

    @property
    def label(self) -> str:
        return ", ".join(self.terms[:4]) or f"cluster {self.id}"


@dataclass(frozen=True)
class Clustering:
    labels: np.ndarray  # (n,) cluster id per point, NOISE for HDBSCAN's outliers
    clusters: tuple[ClusterInfo, ...]  # largest first; noise not included
    settings: ClusterSettings

    @property
    def noise(self) -> int:
        return int((self.labels == NOISE).sum())

    @property
    def purity(self) -> float | None:
        """Share of clustered points in their cluster's top category (None without categories)."""
        known = [c for c in self.clusters if c.purity is not None]
        if not known:
            return None
        return sum(c.purity * c.size for c in known) / sum(c.size for c in known)


def _fit_labels(embeddings: np.ndarray, settings: ClusterSettings) -> np.ndarray:
    vectors = normalise(embeddings)
    if settings.method == "kmeans":
        from sklearn.cluster import KMeans

        n_clusters = min(settings.n_clusters, len(vectors))
        return KMeans(n_clusters=n_clusters, n_init=3, random_state=settings.seed).fit_predict(vectors)
    if settings.method == "hdbscan":
        from sklearn.cluster import HDBSCAN
        from sklearn.decomposition import PCA

        if len(vectors) > HDBSCAN_DIMS and vectors.shape[1] > HDBSCAN_DIMS:
            vectors = PCA(n_components=HDBSCAN_DIMS, svd_solver="covariance_eigh").fit_transform(vectors)
        # copy=False: `vectors` is this function's own array, free to be overwritten.
        return HDBSCAN(min_cluster_size=max(2, settings.min_cluster_size), copy=False).fit_predict(vectors)
    raise ExplorerError(f"unknown clustering method {settings.method!r}; use one of {', '.join(CLUSTER_METHODS)}")


def ctfidf_terms(texts: Sequence[str], labels: np.ndarray, n_terms: int = 8) -> dict[int, tuple[str, ...]]:
    """The n most distinctive terms of each cluster by c-TF-IDF (English stop words removed; noise skipped)."""
    from sklearn.feature_extraction.text import CountVectorizer

    ids = sorted(int(c) for c in set(labels.tolist()) if c != NOISE)
    joined = [" ".join(t for t, label in zip(texts, labels) if label == c) for c in ids]
    vectorizer = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")
    try:
        counts = vectorizer.fit_transform(joined).toarray().astype(np.float64)
    except ValueError:  # nothing but stop words and numbers
        return {c: () for c in ids}
    words = vectorizer.get_feature_names_out()
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    average_words = counts.sum() / len(ids)
    idf = np.log1p(average_words / np.maximum(counts.sum(axis=0), 1.0))
    weights = tf * idf
    terms = {}
    for row, c in enumerate(ids):
        best = np.argsort(-weights[row], kind="stable")[:n_terms]
        terms[c] = tuple(str(words[i]) for i in best if weights[row, i] > 0)
    return terms


def cluster(embeddings: np.ndarray, texts: Sequence[str], categories: Sequence[str | None] | None = None,
            settings: ClusterSettings = ClusterSettings(), progress: ProgressCallback = no_progress) -> Clustering:
    """Cluster the vectors, name each cluster by c-TF-IDF and measure purity against `categories`."""
    if len(embeddings) != len(texts):
        raise ExplorerError(f"{len(embeddings)} vectors but {len(texts)} texts")
    if len(embeddings) < 2:
        raise ExplorerError("clustering needs at least 2 chunks")
    progress(ProgressEvent(f"clustering ({settings.method})", 0, 2))
    labels = np.asarray(_fit_labels(np.asarray(embeddings, dtype=np.float32), settings), dtype=int)
    progress(ProgressEvent("naming clusters", 1, 2))
    terms = ctfidf_terms(texts, labels, settings.n_terms)
    has_categories = categories is not None and any(categories)
    infos = []
    for c, words in terms.items():
        members = np.flatnonzero(labels == c)
        top, purity = None, None
        if has_categories:
            assert categories is not None
            top, hits = Counter(categories[i] or "(none)" for i in members).most_common(1)[0]
            purity = hits / len(members)
        infos.append(ClusterInfo(c, len(members), words, top, purity))
    infos.sort(key=lambda info: (-info.size, info.id))
    progress(ProgressEvent("done", 2, 2))
    return Clustering(labels, tuple(infos), settings)
