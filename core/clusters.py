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

Labels should name topics, so besides English stop words the vocabulary leaves out
FILLER_WORDS (speech verbs, modal verbs, forms of address, placeholder names such as
"foo": "mr, said, would" name no topic) and proper nouns (words written capitalised
in the middle of a sentence nearly every time: the novels' characters and places),
which name a cast rather than what the passage is about.

`map_labels` names regions of a 2-D map at several levels of detail: the map's
coordinates are cut into a few regions (level 0), then more and smaller ones for
closer zoom levels, each named by c-TF-IDF over its texts and placed on the member
nearest its centre (a region shaped like a crescent would have its mean outside it).
Regions come from the map, not the full space, because a label names what the eye
sees as one island.
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from .embedders import normalise
from .errors import ExplorerError
from .types import ProgressCallback, ProgressEvent, no_progress

ClusterMethod = Literal["kmeans", "hdbscan"]
CLUSTER_METHODS: tuple[ClusterMethod, ...] = ("kmeans", "hdbscan")
NOISE = -1
HDBSCAN_DIMS = 50
FILLER_WORDS = frozenset("""
    mr mrs miss ms sir madam lady lord dear
    said say says saying tell told asked replied cried answered exclaimed
    would could should shall might must may will can did does done
    know knew think thought see saw seen come came go went going make made take took get got let
    upon one two much many well also yet us oh yes ah indeed quite rather soon ever never always
    thing things way time little great good chapter
    foo bar baz qux
""".split())
# A word is a proper noun when written capitalised mid-sentence in at least this share of its uses,
# seen at least NAME_MIN_USES times there.
NAME_SHARE, NAME_MIN_USES = 0.9, 3
TITLES = frozenset({"mr", "mrs", "ms", "dr", "st", "messrs"})  # their full stop does not end a sentence
TERMS_TEXTS = 2_000  # texts per cluster read for its terms: enough to name it, cheap at a million points
LABEL_LEVELS = (6, 24, 96)  # regions per level of detail, coarse to fine
LABEL_MIN_POINTS = 20  # a region has at least this many points on average, else the level is skipped
LABEL_TERMS = 3
REGIONS_FIT = 20_000  # map points the regions are fitted on


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


def proper_nouns(texts: Sequence[str]) -> frozenset[str]:
    """Lower-cased words written Capitalised mid-sentence in nearly all their mid-sentence uses: names."""
    capitalised: Counter[str] = Counter()
    uses: Counter[str] = Counter()
    for text in texts:
        sentence_start, previous = True, ""
        for token in re.findall(r"[A-Za-z]+|[.!?]", text):
            if token in ".!?":
                sentence_start = sentence_start or previous not in TITLES  # "Mr. Collins" goes on
                previous = token
                continue
            word = token.lower()
            if not sentence_start:
                uses[word] += 1
                capitalised[word] += token[0].isupper() and token[1:].islower()
            sentence_start, previous = False, word
    return frozenset(w for w, n in uses.items() if n >= NAME_MIN_USES and capitalised[w] >= NAME_SHARE * n)


def _texts_per_cluster(labels: np.ndarray, limit: int, seed: int = 0) -> dict[int, np.ndarray]:
    """Row numbers of each cluster's texts (noise skipped), a seeded sample of `limit` where there are more."""
    rng = np.random.default_rng(seed)
    rows = {}
    for c in sorted(int(c) for c in np.unique(labels) if c != NOISE):
        members = np.flatnonzero(labels == c)
        rows[c] = np.sort(rng.choice(members, limit, replace=False)) if len(members) > limit else members
    return rows


def words_to_skip(texts: Sequence[str]) -> frozenset[str]:
    """Words no label should hold: English stop words, FILLER_WORDS and the proper nouns of these texts."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return ENGLISH_STOP_WORDS | FILLER_WORDS | proper_nouns(texts)


def ctfidf_terms(texts: Sequence[str], labels: np.ndarray, n_terms: int = 8,
                 skip: frozenset[str] | None = None) -> dict[int, tuple[str, ...]]:
    """The n most distinctive terms of each cluster by c-TF-IDF (noise skipped), leaving out `skip` (default:
    `words_to_skip` of the texts read). A cluster's terms are read from up to TERMS_TEXTS of its texts."""
    from sklearn.feature_extraction.text import CountVectorizer

    rows = _texts_per_cluster(np.asarray(labels), TERMS_TEXTS)
    ids = list(rows)
    joined = [" ".join(texts[i] for i in rows[c]) for c in ids]
    if skip is None:
        skip = words_to_skip([texts[i] for c in ids for i in rows[c]])
    vectorizer = CountVectorizer(stop_words=sorted(skip), token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")
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


@dataclass(frozen=True)
class MapLabel:
    """A label on a 2-D map: where, what, how many points it names, and its level (0: coarsest)."""

    x: float
    y: float
    text: str
    size: int
    level: int


def _regions(coords: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k regions of a 2-D map by KMeans; above REGIONS_FIT points fitted on a sample of them (2-D centres
    need no more) and every point given its nearest centre. One thread: on 2-D points OpenMP threads cost
    more than they save (24 regions of 2,411 points: 4.3 s on two busy cores, 0.2 s on one)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        if len(coords) <= REGIONS_FIT:
            return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(coords)
        sample = coords[np.random.default_rng(seed).choice(len(coords), REGIONS_FIT, replace=False)]
        return MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=4096, n_init=3).fit(sample).predict(coords)


def map_labels(coords: np.ndarray, texts: Sequence[str], levels: Sequence[int] = LABEL_LEVELS,
               n_terms: int = LABEL_TERMS, seed: int = 0, progress: ProgressCallback = no_progress) -> list[MapLabel]:
    """Labels naming the regions of a 2-D map at each level of detail, coarsest first, largest first within a level.
    A level is cut to regions of LABEL_MIN_POINTS points on average, and skipped when that leaves it no finer
    than the level before."""
    coords = np.asarray(coords, dtype=np.float32)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ExplorerError(f"map labels are for 2-D maps; these positions have shape {coords.shape}")
    if len(coords) != len(texts):
        raise ExplorerError(f"{len(coords)} map positions but {len(texts)} texts")
    counts: list[int] = []
    for k in levels:  # each level finer than the last, else it would only repeat it
        k = min(k, len(coords) // LABEL_MIN_POINTS)
        if k >= 1 and (not counts or k > counts[-1]):
            counts.append(k)
    read = np.random.default_rng(seed).choice(len(texts), min(len(texts), TERMS_TEXTS * 10), replace=False)
    skip = words_to_skip([texts[i] for i in read])
    labels: list[MapLabel] = []
    for level, k in enumerate(counts):
        progress(ProgressEvent(f"naming {k} map regions", level, len(counts)))
        regions = np.zeros(len(coords), dtype=int) if k == 1 else _regions(coords, k, seed)
        terms = ctfidf_terms(texts, regions, n_terms, skip)
        found = []
        for region, words in terms.items():
            members = np.flatnonzero(regions == region)
            if not words:
                continue
            anchor = members[np.argmin(((coords[members] - coords[members].mean(axis=0)) ** 2).sum(axis=1))]
            found.append(MapLabel(float(coords[anchor, 0]), float(coords[anchor, 1]), ", ".join(words),
                                  len(members), level))
        labels += sorted(found, key=lambda label: -label.size)
    progress(ProgressEvent("done", len(counts), len(counts)))
    return labels


LABEL_FORMATS = ("csv", "json")


def labels_text(labels: Sequence[MapLabel], fmt: str) -> str:
    """The labels as CSV (x, y, text, size, level) or a JSON list of objects with those keys."""
    if fmt == "json":
        return json.dumps([asdict(label) for label in labels], ensure_ascii=False, indent=1)
    if fmt != "csv":
        raise ExplorerError(f"labels export as {' or '.join(LABEL_FORMATS)}, not {fmt!r}")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["x", "y", "text", "size", "level"])
    writer.writerows([f"{label.x:.6g}", f"{label.y:.6g}", label.text, label.size, label.level] for label in labels)
    return buffer.getvalue()


def labels_format(path: Path) -> str:
    """The export format a file name asks for (.csv or .json)."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in LABEL_FORMATS:
        raise ExplorerError(f"{path}: label files end in .csv or .json")
    return fmt
