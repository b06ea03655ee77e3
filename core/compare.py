"""Two embedding models on the same chunks: aligned maps and how much their neighbourhoods agree.

Model A is the one that filled the collection (its vectors are read back from
the store); model B embeds the same chunk texts, cached on disk by model and
chunk ids (ids are content-addressed, so they pin the texts). Each model's
vectors get their own 2-D PCA; B's map is then turned onto A's by orthogonal
Procrustes (rotation/reflection only, after centring and scaling both to unit
size), so the two pictures can be read side by side without changing either's
shape. Agreement is measured without any map: for every chunk, the Jaccard
overlap of its k nearest neighbours (cosine) under A and under B.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import DATA_DIR
from .embedders import Embedder
from .errors import ExplorerError
from .labels import LabelReport, check_labels, document_names, label_values
from .stores.base import Collection, StoredChunks
from .types import Metadata, ProgressCallback, ProgressEvent, content_hash, no_progress

COMPARE_CACHE_DIR = DATA_DIR / "cache" / "compare"
DEFAULT_MAX_CHUNKS = 2000
EMBED_BATCH = 256


@dataclass(frozen=True)
class EmbedderComparison:
    """Row-aligned: chunk i is at a_xy[i] on A's map, b_xy[i] on B's, with neighbour overlap jaccard[i]."""

    model_a: str
    model_b: str
    ids: list[str]
    texts: list[str]
    metadatas: list[Metadata]
    a_xy: np.ndarray
    b_xy: np.ndarray
    jaccard: np.ndarray
    k: int
    total_chunks: int  # in the collection; more than len(ids) when capped
    disparity: float   # Procrustes residual of the unit-size maps: 0 = same picture, up to 2

    @property
    def overall_jaccard(self) -> float:
        return float(self.jaccard.mean()) if len(self.jaccard) else 0.0

    @property
    def chance_jaccard(self) -> float:
        """Expected overlap of two random k-neighbour sets, for scale."""
        n = len(self.ids) - 1
        p = self.k / n if n > 0 else 0.0
        return p / (2 - p) if p else 0.0

    @property
    def capped(self) -> bool:
        return len(self.ids) < self.total_chunks


def sample_chunks(collection: Collection, max_chunks: int) -> tuple[StoredChunks, int]:
    """The collection's chunks with embeddings, evenly thinned to `max_chunks` (deterministic)."""
    pages = list(collection.iter_pages(include_embeddings=True))
    chunks = StoredChunks.concat(pages, collection.embedder.dimension, include_embeddings=True)
    total = len(chunks.ids)
    if total <= max_chunks:
        return chunks, total
    keep = np.linspace(0, total - 1, max_chunks).round().astype(int)
    assert chunks.embeddings is not None
    return StoredChunks(ids=[chunks.ids[i] for i in keep], texts=[chunks.texts[i] for i in keep],
                        metadatas=[chunks.metadatas[i] for i in keep], embeddings=chunks.embeddings[keep]), total


def embed_cached(embedder: Embedder, ids: list[str], texts: list[str], cache_dir: Path,
                 progress: ProgressCallback = no_progress) -> np.ndarray:
    """`embedder` on the texts, kept on disk by model name and chunk ids (a second look costs nothing)."""
    path = cache_dir / f"{embedder.name}-{content_hash(embedder.name, *ids)[:24]}.npy"
    if path.is_file():
        vectors = np.load(path)
        if vectors.shape == (len(ids), embedder.dimension):
            return vectors
    parts = []
    for lo in range(0, len(texts), EMBED_BATCH):
        parts.append(embedder.embed(texts[lo:lo + EMBED_BATCH]))
        progress(ProgressEvent(f"embedding with {embedder.name}", min(lo + EMBED_BATCH, len(texts)), len(texts)))
    vectors = np.vstack(parts) if parts else np.zeros((0, embedder.dimension), np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def _unit_map(vectors: np.ndarray) -> np.ndarray:
    from sklearn.decomposition import PCA

    xy = PCA(n_components=2, random_state=0).fit_transform(vectors.astype(np.float64))
    return xy / max(float(np.linalg.norm(xy)), 1e-12)  # centred by PCA; unit Frobenius norm


def aligned_maps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """2-D PCA maps of both, B rotated/reflected onto A; returns (a_xy, b_xy, disparity)."""
    from scipy.linalg import orthogonal_procrustes

    a_xy, b_xy = _unit_map(a), _unit_map(b)
    rotation, _ = orthogonal_procrustes(b_xy, a_xy)
    b_xy = b_xy @ rotation
    return a_xy, b_xy, float(((a_xy - b_xy) ** 2).sum())


def neighbours(vectors: np.ndarray, k: int) -> list[set[int]]:
    """Each row's k nearest other rows by cosine (itself left out even when a duplicate ties with it)."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=min(k + 1, len(vectors)), metric="cosine").fit(vectors)
    _, found = index.kneighbors(vectors)
    return [set([int(j) for j in row if j != i][:k]) for i, row in enumerate(found)]


def jaccard_at(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """Per row: |N_A ∩ N_B| / |N_A ∪ N_B| of its k nearest neighbours under each embedding."""
    near_a, near_b = neighbours(a, k), neighbours(b, k)
    return np.array([len(x & y) / len(x | y) if x | y else 1.0 for x, y in zip(near_a, near_b)])


def compare_embedders(collection: Collection, model_b: Embedder, cache_dir: Path, k: int = 10,
                      max_chunks: int = DEFAULT_MAX_CHUNKS,
                      progress: ProgressCallback = no_progress) -> EmbedderComparison:
    """The collection's own model (A) against `model_b` on the same chunks (at most `max_chunks`);
    B's vectors are kept in `cache_dir` (the app's is COMPARE_CACHE_DIR)."""
    if model_b.name == collection.embedder.name:
        raise ExplorerError(f"'{collection.name}' was made with {model_b.name}: pick a different model to compare")
    if k < 1:
        raise ExplorerError("compare at least 1 neighbour")
    progress(ProgressEvent("reading chunks", 0, None))
    chunks, total = sample_chunks(collection, max_chunks)
    if len(chunks.ids) <= k + 1:
        raise ExplorerError(f"'{collection.name}' holds {len(chunks.ids)} chunks: comparing {k} neighbours "
                            f"needs more than {k + 1}")
    assert chunks.embeddings is not None
    b = embed_cached(model_b, chunks.ids, chunks.texts, cache_dir, progress)
    progress(ProgressEvent("comparing neighbourhoods", 0, None))
    a_xy, b_xy, disparity = aligned_maps(chunks.embeddings, b)
    return EmbedderComparison(model_a=collection.embedder.name, model_b=model_b.name, ids=chunks.ids, texts=chunks.texts,
                      metadatas=chunks.metadatas, a_xy=a_xy, b_xy=b_xy, jaccard=jaccard_at(chunks.embeddings, b, k),
                      k=k, total_chunks=total, disparity=disparity)


def label_separation(collection: Collection, model_b: Embedder, cache_dir: Path, field: str = "category",
                     max_chunks: int = DEFAULT_MAX_CHUNKS) -> tuple[LabelReport, LabelReport]:
    """The label check (core/labels.py) of the same chunks under the collection's model and under `model_b`:
    which of the two keeps each label's neighbours together, and how many documents each makes look
    mislabelled. B's vectors come from the same disk cache as `compare_embedders`'."""
    chunks, _ = sample_chunks(collection, max_chunks)
    assert chunks.embeddings is not None
    values, documents = label_values(chunks.metadatas, field), document_names(chunks.metadatas)
    b = embed_cached(model_b, chunks.ids, chunks.texts, cache_dir)
    return (check_labels(chunks.embeddings, values, documents, field=field),
            check_labels(b, values, documents, field=field))
