"""Checking labels against the embedding space: which labels bleed into which, which documents
look mislabelled, which are outliers, and how clusters found without the labels match them.

Suspect labels. Every chunk gets out-of-sample label probabilities from two judges that
never see its own label: its k nearest neighbours (core/knn.py, cosine), voting with
their labels weighted by cosine, and a linear classifier (shrinkage LDA, closed form)
fitted in folds that leave its document out; the two are averaged. Neighbours from the
chunk's own document do not vote: they carry its label whether it is right or wrong.
Labels belong to documents (a file, or a row of a CSV/JSONL file), so a document's
probabilities are its chunks' mean, and its score is 1 - its own label's probability
(0..1; above the threshold, 0.5 by default, its own label gets less than half). Documents
are ranked by it, as confident learning ranks by self-confidence (the margin to the best
other label ranked worse with many labels: 0.37 against 0.74 on the 14-label bench with
`minilm-static`);
bench/bench_labels.py measures the ranking against cleanlab's own recipe (cross-validated
logistic regression + `find_label_issues`) on injected noise: the neighbourhood vote
alone ranked below it, the linear model alone about level, the mean above both.

Per label: agreement (share of its chunks' k nearest neighbours with the same label) in
the full space and on a 2-D map, and the silhouette (cosine, on a seeded sample above
SILHOUETTE_SAMPLE chunks). The neighbourhood confusion matrix counts chunks by their label
and the label most of their neighbours carry. k-means with as many clusters as labels,
scored against them by ARI and NMI. Outliers: documents whose chunks sit farthest from
their k nearest neighbours (1 - mean cosine: the emptiest neighbourhoods).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import ExplorerError
from .knn import Neighbours, nearest_neighbours
from .label_edits import LabelEdits
from .projection import MapPoints
from .types import Metadata, ProgressCallback, ProgressEvent, no_progress

DEFAULT_K = 20
DEFAULT_THRESHOLD = 0.5
SILHOUETTE_SAMPLE = 5_000
FOLDS = 5
COVARIANCE_SAMPLE = 20_000
MAX_LABELS = 500
UNLABELLED = -1
RINGED_OUTLIERS = 20  # the most isolated documents a map rings


class LabelCheckError(ExplorerError):
    """A label check that cannot run on this data (too few labelled chunks, one label only)."""


@dataclass(frozen=True)
class LabelStats:
    label: str
    chunks: int
    documents: int
    agreement: float  # share of its chunks' k nearest neighbours (full space) with the same label
    map_agreement: float | None  # the same on the 2-D map (None: no map given)
    silhouette: float  # mean silhouette of its (sampled) chunks, cosine; -1..1


@dataclass(frozen=True)
class Suspect:
    document: str
    label: str
    suggested: str  # the likeliest label other than its own
    score: float  # 1 - the probability of `label`: above the threshold, suspect
    rows: tuple[int, ...]  # its chunks (rows of the input)


@dataclass(frozen=True)
class Outlier:
    document: str
    label: str
    distance: float  # 1 - mean cosine to its chunks' k nearest neighbours
    rows: tuple[int, ...]


@dataclass(frozen=True)
class LabelReport:
    field: str
    labels: tuple[str, ...]  # sorted; label index i is labels[i]
    given: np.ndarray  # (n,) label index per chunk, UNLABELLED for chunks without one
    voted: np.ndarray  # (n,) the label its neighbours' vote favours (UNLABELLED where unlabelled)
    stats: tuple[LabelStats, ...]  # one per label, in `labels` order
    confusion: np.ndarray  # (L, L) chunks: given label (row) x the label its neighbours vote for (column)
    suspects: tuple[Suspect, ...]  # every labelled document, most suspect first
    outliers: tuple[Outlier, ...]  # every document, most isolated first
    ari: float  # adjusted Rand index of k-means clusters (as many as labels) against the labels
    nmi: float  # normalised mutual information of the same
    k: int
    threshold: float
    unlabelled: int  # chunks without a value in `field`, left out of every figure
    unjudged: int  # documents whose label no other document carries: nothing to judge them against

    @property
    def flagged(self) -> tuple[Suspect, ...]:
        """The documents whose score is above the threshold."""
        return tuple(s for s in self.suspects if s.score > self.threshold)

    def ringed(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The rows a map rings: every chunk of the flagged documents, and of the RINGED_OUTLIERS most isolated."""
        return (tuple(r for s in self.flagged for r in s.rows),
                tuple(r for o in self.outliers[:RINGED_OUTLIERS] for r in o.rows))

    def cell_rows(self, given: int, voted: int) -> np.ndarray:
        """The chunks counted in confusion[given, voted]."""
        return np.flatnonzero((self.given == given) & (self.voted == voted))


def label_values(metadatas: Sequence[Metadata], field: str) -> list[str | None]:
    """Each chunk's value of `field` as text; None when it has none."""
    values: list[str | None] = []
    for metadata in metadatas:
        value = metadata.get(field)
        values.append(None if value is None or str(value).strip() == "" else str(value))
    return values


def document_names(metadatas: Sequence[Metadata]) -> list[str]:
    """Each chunk's document: its source, and for a row of a CSV/JSONL file the row's id after '#'."""
    names = []
    for metadata in metadatas:
        source = str(metadata.get("source", ""))
        row = metadata.get("row")
        names.append(f"{source}#{row}" if row is not None and str(row) != "" else source)
    return names


def neighbour_votes(neighbours: Neighbours, given: np.ndarray, doc_of: np.ndarray, n_labels: int) -> np.ndarray:
    """(n, L) shares of each chunk's neighbours carrying each label, weighted by cosine. Neighbours from the
    chunk's own document do not vote (they carry its label whether right or wrong), nor do unlabelled ones;
    a chunk with no voter gets an all-zero row."""
    n, k = neighbours.index.shape
    labels = given[neighbours.index]
    counted = (labels != UNLABELLED) & (doc_of[neighbours.index] != doc_of[:, None])
    weights = np.where(counted, np.clip(neighbours.similarity, 0.0, None) + 1e-6, 0.0)
    votes = np.zeros((n, n_labels))
    np.add.at(votes, (np.repeat(np.arange(n), k), np.where(counted, labels, 0).ravel()), weights.ravel())
    totals = votes.sum(axis=1, keepdims=True)
    return votes / np.where(totals > 0, totals, 1.0)


def _lda_probabilities(train: np.ndarray, labels: np.ndarray, test: np.ndarray, n_labels: int) -> np.ndarray:
    """Linear discriminant analysis with a Ledoit-Wolf shrunk pooled covariance, in closed form (what
    sklearn's LDA(solver="lsqr", shrinkage="auto") computes, with a Cholesky solve instead of its least
    squares, which took seconds per fold here): (len(test), n_labels) probabilities, zero for labels
    missing from `train`."""
    from scipy.linalg import cho_factor, cho_solve
    from sklearn.covariance import ledoit_wolf

    classes = np.unique(labels)
    means = np.stack([train[labels == c].mean(axis=0) for c in classes])
    centred = train - means[np.searchsorted(classes, labels)]
    if len(centred) > COVARIANCE_SAMPLE:  # 384 x 384 entries are well estimated long before 80,000 rows
        centred = centred[np.random.default_rng(0).choice(len(centred), COVARIANCE_SAMPLE, replace=False)]
    covariance, _ = ledoit_wolf(centred, assume_centered=True)
    weights = cho_solve(cho_factor(covariance + 1e-6 * np.eye(len(covariance))), means.T)  # (d, C)
    priors = np.array([np.mean(labels == c) for c in classes])
    logits = test @ weights - 0.5 * np.sum(means.T * weights, axis=0) + np.log(priors)
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    out = np.zeros((len(test), n_labels))
    out[:, classes] = probabilities / probabilities.sum(axis=1, keepdims=True)
    return out


def linear_votes(vectors: np.ndarray, given: np.ndarray, doc_of: np.ndarray, n_labels: int,
                 seed: int = 0) -> np.ndarray:
    """(n, L) out-of-fold label probabilities of a shrinkage LDA (a linear classifier in closed form:
    seconds at 100,000 chunks), FOLDS folds grouped by document so no document is judged by a model that
    saw it. Unlabelled chunks get zeros; a fold whose training part has one label only votes uniformly."""
    from sklearn.model_selection import GroupKFold

    probabilities = np.zeros((len(given), n_labels))
    labelled = np.flatnonzero(given != UNLABELLED)
    groups = doc_of[labelled]
    folds = min(FOLDS, len(np.unique(groups)))
    splitter = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(labelled, groups=groups):
        train_rows, test_rows = labelled[train], labelled[test]
        if len(np.unique(given[train_rows])) < 2:
            probabilities[test_rows] = 1.0 / n_labels
            continue
        probabilities[test_rows] = _lda_probabilities(vectors[train_rows].astype(np.float64), given[train_rows],
                                                      vectors[test_rows].astype(np.float64), n_labels)
    return probabilities


def label_probabilities(vectors: np.ndarray, neighbours: Neighbours, given: np.ndarray, doc_of: np.ndarray,
                        n_labels: int, seed: int = 0) -> np.ndarray:
    """(n, L) out-of-sample label probabilities: the mean of the neighbourhood vote and the linear model's."""
    return (neighbour_votes(neighbours, given, doc_of, n_labels)
            + linear_votes(vectors, given, doc_of, n_labels, seed)) / 2


def score_documents(probabilities: np.ndarray, given: np.ndarray, doc_of: np.ndarray, n_docs: int):
    """Per document: (its label, its score, the suggested label), from the mean of its labelled chunks'
    probabilities; a document's label is its chunks' commonest. Score: 1 - the probability of its own
    label, 0..1 (documents without a labelled chunk: label UNLABELLED, score -inf)."""
    labelled = given != UNLABELLED
    n_labels = probabilities.shape[1]
    sums = np.zeros((n_docs, n_labels))
    np.add.at(sums, doc_of[labelled], probabilities[labelled])
    counts = np.zeros((n_docs, n_labels))
    np.add.at(counts, (doc_of[labelled], given[labelled]), 1)
    sizes = counts.sum(axis=1)
    mean = sums / np.where(sizes > 0, sizes, 1)[:, None]
    doc_label = np.where(sizes > 0, counts.argmax(axis=1), UNLABELLED)
    rows = np.arange(n_docs)
    own = mean[rows, np.clip(doc_label, 0, None)]
    others = mean.copy()
    others[rows, np.clip(doc_label, 0, None)] = -np.inf
    suggested = others.argmax(axis=1)
    score = np.where(sizes > 0, 1.0 - own, -np.inf)
    return doc_label, score, suggested


def _agreement(index: np.ndarray, given: np.ndarray, rows: np.ndarray) -> float:
    near = given[index[rows]]
    counted = near != UNLABELLED
    return float((near == given[rows][:, None])[counted].mean()) if counted.any() else float("nan")


def _silhouettes(vectors: np.ndarray, given: np.ndarray, rows: np.ndarray, seed: int) -> np.ndarray:
    """Silhouette (cosine) of `rows`, or of a seeded sample of them; NaN for the chunks not sampled."""
    from sklearn.metrics import silhouette_samples

    values = np.full(len(given), np.nan)
    if len(rows) > SILHOUETTE_SAMPLE:
        rows = np.sort(np.random.default_rng(seed).choice(rows, SILHOUETTE_SAMPLE, replace=False))
    if len(set(given[rows].tolist())) >= 2:
        values[rows] = silhouette_samples(vectors[rows], given[rows], metric="cosine")
    return values


def _clusters(vectors: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if len(vectors) > 20_000:  # full k-means passes over 100,000 vectors cost tens of seconds
        return MiniBatchKMeans(n_clusters=n_clusters, n_init=1, random_state=seed, batch_size=4096).fit_predict(vectors)
    return KMeans(n_clusters=n_clusters, n_init=3, random_state=seed).fit_predict(vectors)


def check_labels(embeddings: np.ndarray, values: Sequence[str | None], documents: Sequence[str],
                 coords: np.ndarray | None = None, field: str = "category", k: int = DEFAULT_K,
                 threshold: float = DEFAULT_THRESHOLD, seed: int = 0,
                 progress: ProgressCallback = no_progress) -> LabelReport:
    """The whole check for chunks with these vectors, label values (None: unlabelled), documents and
    (optionally) 2-D map positions, all row-aligned."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from sklearn.neighbors import NearestNeighbors

    from .embedders import normalise

    n = len(embeddings)
    if not n == len(values) == len(documents) or (coords is not None and len(coords) != n):
        raise LabelCheckError(f"{n} vectors, {len(values)} labels, {len(documents)} documents"
                              + (f", {len(coords)} map positions" if coords is not None else "") + ": they must match")
    labels = tuple(sorted({v for v in values if v is not None}))
    labelled = np.array([v is not None for v in values], dtype=bool)
    if len(labels) < 2:
        raise LabelCheckError(f"checking labels needs at least two different values of '{field}'; "
                              f"found {len(labels)} among {n:,} chunks")
    if len(labels) > MAX_LABELS:
        raise LabelCheckError(f"'{field}' has {len(labels):,} different values; a label check compares at most "
                              f"{MAX_LABELS}: pick a field that groups documents")
    if labelled.sum() < 3:
        raise LabelCheckError(f"only {int(labelled.sum())} chunks have a '{field}': too few to check")
    position = {label: i for i, label in enumerate(labels)}
    given = np.array([position[v] if v is not None else UNLABELLED for v in values], dtype=np.int64)
    names, doc_of = np.unique(np.asarray(documents, dtype=object), return_inverse=True)
    stages = 6
    progress(ProgressEvent("finding neighbours", 0, stages, f"{n:,} chunks"))
    vectors = normalise(np.asarray(embeddings, dtype=np.float32))
    neighbours = nearest_neighbours(vectors, k, seed=seed)
    progress(ProgressEvent("scoring labels", 1, stages))
    probabilities = label_probabilities(vectors, neighbours, given, doc_of, len(labels), seed)
    doc_label, score, suggested = score_documents(probabilities, given, doc_of, len(names))
    # A label only one document carries cannot be judged without that document: its documents are left out.
    documents_per_label = np.bincount(doc_label[doc_label != UNLABELLED], minlength=len(labels))
    judged = (doc_label != UNLABELLED) & (documents_per_label[np.clip(doc_label, 0, None)] >= 2)
    members = _members(doc_of, len(names))
    order = [d for d in np.lexsort((names, -score)) if judged[d]]
    suspects = tuple(Suspect(str(names[d]), labels[doc_label[d]], labels[suggested[d]], round(float(score[d]), 6),
                             members[d]) for d in order)
    progress(ProgressEvent("measuring agreement", 2, stages))
    # The space as it is: every neighbour counts here, a chunk's own document's too.
    around = neighbour_votes(neighbours, given, np.arange(n), len(labels))
    voted = np.where(labelled & (around.sum(axis=1) > 0), around.argmax(axis=1), UNLABELLED)
    map_index = None
    if coords is not None:
        map_index = NearestNeighbors(n_neighbors=min(neighbours.k + 1, n)).fit(coords).kneighbors(
            return_distance=False)[:, :neighbours.k]
    silhouette = _silhouettes(vectors, given, np.flatnonzero(labelled), seed)
    stats = []
    for c, label in enumerate(labels):
        rows = np.flatnonzero(given == c)
        sampled = silhouette[rows][~np.isnan(silhouette[rows])]
        stats.append(LabelStats(
            label, len(rows), int(documents_per_label[c]), _agreement(neighbours.index, given, rows),
            _agreement(map_index, given, rows) if map_index is not None else None,
            float(sampled.mean()) if len(sampled) else float("nan")))
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    both = voted != UNLABELLED
    np.add.at(confusion, (given[both], voted[both]), 1)
    progress(ProgressEvent("clustering", 3, stages))
    clusters = _clusters(vectors[labelled], min(len(labels), int(labelled.sum())), seed)
    ari = float(adjusted_rand_score(given[labelled], clusters))
    nmi = float(normalized_mutual_info_score(given[labelled], clusters))
    progress(ProgressEvent("finding outliers", 4, stages))
    distance = np.bincount(doc_of, weights=1.0 - neighbours.similarity.mean(axis=1), minlength=len(names))
    distance /= np.bincount(doc_of, minlength=len(names))
    outliers = tuple(Outlier(str(names[d]), labels[doc_label[d]] if doc_label[d] != UNLABELLED else "",
                             round(float(distance[d]), 6), members[d]) for d in np.lexsort((names, -distance)))
    progress(ProgressEvent("done", stages, stages))
    return LabelReport(field=field, labels=labels, given=given, voted=voted, stats=tuple(stats), confusion=confusion,
                       suspects=suspects, outliers=outliers, ari=ari, nmi=nmi, k=neighbours.k, threshold=threshold,
                       unlabelled=int((~labelled).sum()), unjudged=int(np.sum(~judged & (doc_label != UNLABELLED))))


def _members(doc_of: np.ndarray, n_docs: int) -> list[tuple[int, ...]]:
    """Each document's rows."""
    order = np.argsort(doc_of, kind="stable")
    bounds = np.searchsorted(doc_of[order], np.arange(n_docs + 1))
    return [tuple(order[bounds[d]:bounds[d + 1]].tolist()) for d in range(n_docs)]


def check_points(points: MapPoints, coords: np.ndarray | None = None, field: str = "category",
                 edits: LabelEdits | None = None, k: int = DEFAULT_K, threshold: float = DEFAULT_THRESHOLD,
                 progress: ProgressCallback = no_progress) -> LabelReport:
    """`check_labels` on a collection's points, their labels read from `field` with `edits`' new labels on top."""
    chunks = points.chunks
    assert chunks.embeddings is not None
    values = label_values(chunks.metadatas, field)
    if edits is not None:
        values = edits.apply(field, chunks.ids, values)
    return check_labels(chunks.embeddings, values, document_names(chunks.metadatas), coords, field, k, threshold,
                        progress=progress)
