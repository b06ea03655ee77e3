"""2-D / 3-D maps of an embedding space: UMAP (the default), PCA or t-SNE, cached on disk.

UMAP is the default wherever it can run: it keeps each point's neighbourhood, which is
what an analyst reads off a map (on the samples it keeps 6x more of each chunk's 10
nearest neighbours than PCA). PCA is linear and takes a second, so the map page draws
it at once while UMAP computes in the background (core.layout_jobs).

Above FIT_SAMPLE points UMAP and t-SNE are fitted on a seeded random sample and every
other point is placed at the similarity-weighted mean of the map positions of its
nearest sampled points in the full space, found through the NN-descent index built for
the fit (pynndescent, which UMAP itself uses). This, not UMAP's `transform`, because
`transform` searches the same index and then runs extra optimisation epochs over the
new points: minutes more at a million points for a position that stays among the same
neighbours, and t-SNE has no transform at all. A placed point sits among its full-space
neighbours by construction, which is what the trust figure measures.

A map is a function of the vectors and the settings only, so the disk cache
is content-addressed: the key hashes the embedding matrix itself and the
settings that affect the result. Returning to the map page, or running the
CLI again on an unchanged collection, reads the coordinates back instead of
recomputing minutes of t-SNE. umap and sklearn.manifold load only when asked
for (importing umap compiles numba code for seconds).

A query lands on an existing map without refitting it: PCA is linear, so its
basis places the query exactly; t-SNE and UMAP have no such map for new points
here, so the query goes to the similarity-weighted mean of its nearest
neighbours' positions, which is where those methods put neighbourhoods anyway.

Reading the points themselves (ids, texts, metadata, vectors) is the slow part
of a large map's first view, so `cached_points` keeps them on disk too, keyed by
the store, the collection and its `version()` (bumped by every write; never the
count, which an edit keeps), and the sample cap: the vectors as .npy, the rows as
an Arrow file, both memory-mapped when read back (`core.columns`).
"""
from __future__ import annotations

import io
import os
import re
import tempfile
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import pyarrow as pa

from .columns import JsonColumn, StringColumn
from .config import DATA_DIR
from .embedders import normalise
from .errors import ExplorerError
from .stores.base import READ_ALL_PAGE, Collection, StoredChunks
from .types import ProgressCallback, ProgressEvent, content_hash, no_progress

Method = Literal["pca", "tsne", "umap"]
Metric = Literal["cosine", "euclidean"]
METHODS: tuple[Method, ...] = ("pca", "tsne", "umap")
METRICS: tuple[Metric, ...] = ("cosine", "euclidean")
METHOD_LABELS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
DEFAULT_METHOD: Method = "umap"
# Fewer points than this: PCA. UMAP's spectral start needs a few more points than dimensions,
# and a map of a handful of chunks has no neighbourhoods worth keeping.
UMAP_MIN_POINTS = 10
# Above this many points UMAP and t-SNE fit on a sample of this size and place the rest by nearest
# neighbours: UMAP grows about linearly (127 s at 50,000 points on 2 cores), placement costs ~0.1 ms a point.
FIT_SAMPLE = 50_000
PLACE_K = 10  # sampled neighbours whose positions place a point
PLACE_BATCH = 50_000  # points placed between two progress reports
DEFAULT_CACHE_DIR = DATA_DIR / "cache" / "projections"
POINTS_CACHE_DIR = DATA_DIR / "cache" / "map-points"
# 100,000 points: read once (about a minute on 2 cores), then PCA in a second; UMAP and t-SNE take
# minutes (fitted on FIT_SAMPLE of them), computed in the background while PCA is shown (core.layout_jobs).
DEFAULT_SAMPLE_CAP = 100_000
MAP_POINTS = 1_000_000  # the map page's default cap: its 2-D map draws a million points; more are a seeded sample
# Below this many points t-SNE runs on one thread: its OpenMP threads cost more than they save on small
# maps, and on a busy machine they spin-wait (142 points: 0.4 s on one thread, 31 s on two under load).
TSNE_SINGLE_THREAD_BELOW = 5_000


class ProjectionError(ExplorerError):
    """Settings or data a projection cannot work with (too few points, bad parameter)."""


@dataclass(frozen=True)
class ProjectionSettings:
    """How to lay the vectors out. Only the fields of the chosen method matter
    (perplexity for t-SNE, n_neighbors and min_dist for UMAP); `key` leaves the
    others out so changing an unused slider does not invalidate the cache."""

    method: Method = DEFAULT_METHOD
    dims: int = 2
    perplexity: float = 30.0
    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: Metric = "cosine"
    seed: int = 42
    fit_sample: int | None = None  # set by for_points: UMAP/t-SNE fitted on this many points, the rest placed

    def check(self) -> None:
        if self.method not in METHODS:
            raise ProjectionError(f"unknown projection method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.dims not in (2, 3):
            raise ProjectionError(f"a map has 2 or 3 dimensions, not {self.dims}")
        if self.metric not in METRICS:
            raise ProjectionError(f"unknown metric {self.metric!r}; use one of {', '.join(METRICS)}")
        if self.perplexity <= 0 or self.n_neighbors < 2 or not 0.0 <= self.min_dist <= 1.0:
            raise ProjectionError("perplexity must be > 0, n_neighbors >= 2 and min_dist within 0..1")

    def for_points(self, n: int) -> ProjectionSettings:
        """These settings made usable for n points: t-SNE needs perplexity below (n - 1) / 3
        (each point's neighbourhood must fit in the data), UMAP n_neighbors below n."""
        if n < self.dims + 2:
            raise ProjectionError(f"a {self.dims}-D map needs at least {self.dims + 2} chunks; this has {n}")
        if self.method == "pca":
            return self
        fitted = min(n, FIT_SAMPLE)
        sample = fitted if fitted < n else None
        if self.method == "tsne":
            return replace(self, perplexity=min(self.perplexity, max(1.0, (fitted - 1) / 3)), fit_sample=sample)
        return replace(self, n_neighbors=min(self.n_neighbors, fitted - 1), fit_sample=sample)

    def key(self) -> str:
        used = {"pca": (), "tsne": ("perplexity",), "umap": ("n_neighbors", "min_dist")}[self.method]
        fields = asdict(self)
        parts = [self.method, f"{self.dims}d", self.metric, *(f"{name}={fields[name]}" for name in used)]
        if self.method == "umap":  # PCA and t-SNE (initialised by PCA) have no randomness
            parts.append(f"seed={self.seed}")
        if self.fit_sample is not None:
            parts.append(f"fit={self.fit_sample}")
        return "-".join(parts)

    def describe(self) -> str:
        extra = {"pca": "", "tsne": f", perplexity {self.perplexity:g}",
                 "umap": f", n_neighbors {self.n_neighbors}, min_dist {self.min_dist:g}"}[self.method]
        fitted = f", fitted on {self.fit_sample:,} sampled points, the rest placed by nearest neighbours" \
            if self.fit_sample is not None else ""
        return f"{METHOD_LABELS[self.method]} {self.dims}-D, {self.metric}{extra}{fitted}"


def preferred_method(n: int) -> Method:
    """The default method for n points: UMAP wherever it can be computed (installed, enough points), else PCA.
    Checks for umap without importing it (the import compiles numba code for seconds)."""
    import importlib.util

    return DEFAULT_METHOD if n >= UMAP_MIN_POINTS and importlib.util.find_spec("umap") else "pca"


@dataclass(frozen=True)
class Projection:
    """Coordinates of every point, row-aligned with the embeddings they came from.

    `mean`/`components` are PCA's affine map (None for t-SNE/UMAP), kept so a
    new vector can be placed exactly: coords = (prepared(v) - mean) @ components.T.
    """

    coords: np.ndarray  # (n, dims) float32
    settings: ProjectionSettings  # as used (perplexity / n_neighbors clamped to n)
    mean: np.ndarray | None = None
    components: np.ndarray | None = None


# Metadata read for every point of a map (colours, legends, filters, exports), kept as their own columns.
FIELD_COLUMNS = ("source", "category", "chunking")


@dataclass(frozen=True)
class MapPoints:
    """The chunks on a map: all of a collection, or a seeded random sample of it."""

    chunks: StoredChunks
    total: int  # chunks in the collection
    fingerprint: str  # content hash of the ids and vectors: the cache key's data half
    fields: dict[str, StringColumn]  # FIELD_COLUMNS, per point ("" where a chunk has none)
    norms: np.ndarray  # (n,) float32, each vector's length: cosine closeness without a normalised copy of them all

    @classmethod
    def of(cls, chunks: StoredChunks, total: int, fingerprint: str) -> MapPoints:
        assert chunks.embeddings is not None
        return cls(chunks, total, fingerprint, {name: StringColumn.of([str(m.get(name) or "") for m in chunks.metadatas])
                                                for name in FIELD_COLUMNS}, vector_norms(chunks.embeddings))

    @property
    def sampled(self) -> bool:
        return len(self.chunks.ids) < self.total

    @property
    def sources(self) -> StringColumn:
        return self.fields["source"]

    @property
    def categories(self) -> StringColumn:
        return self.fields["category"]


def vector_norms(embeddings: np.ndarray) -> np.ndarray:
    """Each row's length, in the rows' own precision (float32 for stored vectors), without a squared copy of them."""
    return np.sqrt(np.einsum("ij,ij->i", embeddings, embeddings))


def fingerprint(ids: Sequence[str], embeddings: np.ndarray) -> str:
    vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
    return content_hash("\n".join(ids), str(vectors.shape), vectors.tobytes())


def load_points(collection: Collection, cap: int = DEFAULT_SAMPLE_CAP, seed: int = 0,
                progress: ProgressCallback = no_progress) -> MapPoints:
    """Read a collection's chunks with their vectors; above `cap`, a seeded random sample of `cap`.

    Pages are read one at a time and sampled as they come, so memory holds the
    sample, not the collection.
    """
    total = collection.count()
    if total == 0:
        raise ProjectionError(f"collection '{collection.name}' is empty: ingest some documents first")
    keep = np.sort(np.random.default_rng(seed).choice(total, cap, replace=False)) if total > cap else None
    pages: list[StoredChunks] = []
    read = 0
    for page in collection.iter_pages(include_embeddings=True, page_size=READ_ALL_PAGE):
        start, read = read, read + len(page.ids)
        if keep is not None:
            assert page.embeddings is not None
            rows = keep[(keep >= start) & (keep < read)] - start
            page = StoredChunks([page.ids[i] for i in rows], [page.texts[i] for i in rows],
                                [page.metadatas[i] for i in rows], page.embeddings[rows])
        pages.append(page)
        progress(ProgressEvent("reading vectors", min(read, total), total))
    chunks = StoredChunks.concat(pages, collection.embedder.dimension, include_embeddings=True)
    assert chunks.embeddings is not None
    return MapPoints.of(chunks, total, fingerprint(chunks.ids, chunks.embeddings))


def write_cache_file(path: Path, data: bytes) -> bool:
    """Write a cache file aside and rename it, so a reader never sees half a file. A cache that
    cannot be written (disk full, read-only data folder) only makes the next visit slower:
    False, the partial file removed, nothing raised."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return True
    except OSError:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return False


def cached_points(collection: Collection, store: str, cap: int = DEFAULT_SAMPLE_CAP, seed: int = 0,
                  progress: ProgressCallback = no_progress, cache_dir: Path | None = POINTS_CACHE_DIR) -> MapPoints:
    """`load_points`, kept on disk under (store, collection, version, cap, seed): a revisit, in this
    process or the next, maps two files instead of reading the store. A write bumps the version, so the
    next visit reads the store again and replaces the files of the older version."""
    if cache_dir is None:
        return load_points(collection, cap, seed, progress)
    view = content_hash(store, collection.name, str(cap), str(seed))[:16]
    key = f"{view}-{content_hash(collection.version())[:16]}"
    vectors_path, rows_path = cache_dir / f"{key}.npy", cache_dir / f"{key}.arrow"
    try:
        cached = _read_points(vectors_path, rows_path)
    except (OSError, ValueError, KeyError, pa.ArrowException):
        cached = None  # missing or damaged: read the store
    if cached is not None:
        progress(ProgressEvent("read from cache", 1, 1))
        return cached
    points = load_points(collection, cap, seed, progress)
    buffer = io.BytesIO()
    np.save(buffer, points.chunks.embeddings)
    # The rows file goes last: it is what a reader looks for first.
    if write_cache_file(vectors_path, buffer.getvalue()):
        write_cache_file(rows_path, _rows_file(points))
    for stale in cache_dir.glob(f"{view}-*"):
        if not stale.name.startswith(key):
            stale.unlink(missing_ok=True)
    return points


def _rows_file(points: MapPoints) -> bytes:
    """The points' rows as an uncompressed Arrow IPC file, so a reader maps it instead of parsing it."""
    chunks = points.chunks
    table = pa.table({"id": StringColumn.of(chunks.ids).array, "text": StringColumn.of(chunks.texts).array,
                      "metadata": JsonColumn.of(chunks.metadatas).strings.array,
                      **{name: points.fields[name].array for name in FIELD_COLUMNS}, "norm": pa.array(points.norms)},
                     metadata={"total": str(points.total), "fingerprint": points.fingerprint})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _page_in(embeddings: np.ndarray) -> None:
    """Read the mapped vectors once in the background (numpy lets go of the GIL meanwhile): the first click's
    neighbour search reads every vector, and 1.5 GB paged in on demand took 5-10 s of it."""
    if len(embeddings):
        threading.Thread(target=lambda: embeddings @ embeddings[0], name="map-vectors-page-in", daemon=True).start()


def _read_points(vectors_path: Path, rows_path: Path) -> MapPoints | None:
    # Both mapped, not read: a million vectors are 1.5 GB and their rows 350 MB; reading the rows as JSON
    # took 7 s of the first view, the vectors 7-10 s. The vectors are copy-on-write, so a caller that
    # changes them in place changes only its own pages.
    table = pa.ipc.open_file(pa.memory_map(str(rows_path))).read_all()
    embeddings = np.load(vectors_path, mmap_mode="c")
    if embeddings.shape[0] != table.num_rows:
        return None
    _page_in(embeddings)
    meta = table.schema.metadata
    column = lambda name: StringColumn(table.column(name))  # noqa: E731
    chunks = StoredChunks(column("id"), column("text"), JsonColumn(column("metadata")), embeddings)
    return MapPoints(chunks, int(meta[b"total"]), meta[b"fingerprint"].decode(),
                     {name: column(name) for name in FIELD_COLUMNS}, table.column("norm").to_numpy())


def prepared_vectors(embeddings: np.ndarray, metric: Metric) -> np.ndarray:
    """Cosine maps work on unit vectors, where euclidean distance orders pairs as cosine does."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    return normalise(vectors) if metric == "cosine" else vectors


class _EpochReport(io.TextIOBase):
    """A file for tqdm, through which UMAP reports its optimisation epochs: each "n/total" it writes
    becomes `stage` again with "epoch n of total" as its detail."""

    def __init__(self, stage: ProgressEvent, progress: ProgressCallback) -> None:
        super().__init__()
        self.stage, self.progress = stage, progress

    def write(self, text: str) -> int:
        found = re.search(r"(\d+)/(\d+)", text)
        if found:
            self.progress(replace(self.stage, detail=f"epoch {found[1]} of {found[2]}"))
        return len(text)


def _fit(vectors: np.ndarray, settings: ProjectionSettings, stage: ProgressEvent, progress: ProgressCallback,
         knn: tuple[np.ndarray, np.ndarray, object] | None = None) -> Projection:
    """Fit one method on all of `vectors` (already prepared), reported as `stage` (UMAP: with its epochs).
    `knn`: UMAP's neighbour graph, when found already."""
    progress(stage)
    if settings.method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=settings.dims, svd_solver="covariance_eigh").fit(vectors)
        return Projection(pca.transform(vectors).astype(np.float32), settings, pca.mean_.astype(np.float32),
                          pca.components_.astype(np.float32))
    if settings.method == "tsne":
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        # Barnes-Hut (O(n log n)) serves 2-D and 3-D. Initialised by PCA the layout has no randomness left
        # but the PCA's randomized SVD, fixed here: the seed setting is UMAP's alone.
        tsne = TSNE(n_components=settings.dims, perplexity=settings.perplexity, metric=settings.metric,
                    init="pca", random_state=0, method="barnes_hut")
        with threadpool_limits(1 if len(vectors) < TSNE_SINGLE_THREAD_BELOW else None):
            return Projection(tsne.fit_transform(vectors).astype(np.float32), settings)
    import umap

    reducer = umap.UMAP(n_components=settings.dims, n_neighbors=settings.n_neighbors, min_dist=settings.min_dist,
                        metric=settings.metric, random_state=settings.seed, precomputed_knn=knn or (None, None, None),
                        n_jobs=1,  # a seed makes UMAP single-threaded anyway; saying so silences its warning
                        tqdm_kwds={"disable": False, "file": _EpochReport(stage, progress), "mininterval": 1.0,
                                   "bar_format": "{n_fmt}/{total_fmt}"})
    return Projection(np.asarray(reducer.fit_transform(vectors), dtype=np.float32), settings)


def weighted_positions(closeness: np.ndarray, neighbour_coords: np.ndarray) -> np.ndarray:
    """Each row's position: the mean of its neighbours' map positions (m, k, dims), weighted by closeness (m, k)."""
    weights = np.clip(closeness, 1e-6, None)
    return (np.einsum("mk,mkd->md", weights, neighbour_coords) / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def closeness_of(distances: np.ndarray, metric: Metric) -> np.ndarray:
    """Cosine similarity from cosine distance, inverse distance for euclidean: higher is closer."""
    return 1.0 - distances if metric == "cosine" else 1.0 / (1e-6 + distances)


def _fit_and_place(vectors: np.ndarray, settings: ProjectionSettings, progress: ProgressCallback) -> Projection:
    """Fit on a seeded sample of `settings.fit_sample` points, place the others by their nearest sampled points."""
    from pynndescent import NNDescent

    assert settings.fit_sample is not None
    n, fitted = len(vectors), settings.fit_sample
    sampled = np.zeros(n, dtype=bool)
    sampled[np.random.default_rng(settings.seed).choice(n, fitted, replace=False)] = True
    rest = np.flatnonzero(~sampled)
    batches = range(0, len(rest), PLACE_BATCH)
    stages = 3 + len(batches)
    name = METHOD_LABELS[settings.method]
    progress(ProgressEvent(f"finding the neighbours of {fitted:,} sampled points", 1, stages,
                           f"{n:,} points in all"))
    index = NNDescent(vectors[sampled], metric=settings.metric, n_neighbors=max(settings.n_neighbors, PLACE_K),
                      random_state=settings.seed, low_memory=True)
    graph = index.neighbor_graph
    knn = (graph[0][:, :settings.n_neighbors], graph[1][:, :settings.n_neighbors], index)
    sample_coords = _fit(vectors[sampled], settings, ProgressEvent(f"fitting {name} on {fitted:,} sampled points", 2,
                                                                   stages), progress,
                         knn if settings.method == "umap" else None).coords
    coords = np.zeros((n, settings.dims), dtype=np.float32)
    coords[sampled] = sample_coords
    index.prepare()
    for step, start in enumerate(batches):
        progress(ProgressEvent(f"placing the other {len(rest):,} points by their nearest sampled points",
                               3 + step, stages, f"{start:,} placed"))
        rows = rest[start:start + PLACE_BATCH]
        neighbours, distances = index.query(vectors[rows], k=PLACE_K)
        coords[rows] = weighted_positions(closeness_of(distances, settings.metric), sample_coords[neighbours])
    return Projection(coords, settings)


def _compute(embeddings: np.ndarray, settings: ProjectionSettings, progress: ProgressCallback) -> Projection:
    """The actual fit (no cache). Stages: prepare, fit, done; fitting on a sample adds neighbours and placing."""
    progress(ProgressEvent("preparing vectors", 0, 3, settings.describe()))
    vectors = prepared_vectors(embeddings, settings.metric)
    if settings.fit_sample is not None:
        result = _fit_and_place(vectors, settings, progress)
    else:
        result = _fit(vectors, settings, ProgressEvent(f"fitting {METHOD_LABELS[settings.method]} on "
                                                       f"{len(vectors):,} points", 1, 3), progress)
    progress(ProgressEvent("done", 3, 3))
    return result


def cache_path(cache_dir: Path, data_key: str, settings: ProjectionSettings) -> Path:
    return cache_dir / f"{content_hash(data_key, settings.key())[:32]}.npz"


def read_cached(n: int, settings: ProjectionSettings, *, data_key: str,
                cache_dir: Path = DEFAULT_CACHE_DIR) -> Projection | None:
    """The cached layout of `n` points named by `data_key` under `settings`, or None when not computed yet."""
    settings = settings.for_points(n)
    cached = _read_cache(cache_path(cache_dir, data_key, settings), settings)
    return cached if cached is not None and cached.coords.shape == (n, settings.dims) else None


def _read_cache(path: Path, settings: ProjectionSettings) -> Projection | None:
    try:
        with np.load(path) as saved:
            mean = saved["mean"] if "mean" in saved else None
            components = saved["components"] if "components" in saved else None
            return Projection(saved["coords"], settings, mean, components)
    except (OSError, ValueError, KeyError):
        return None  # missing or half-written: recompute


def _write_cache(path: Path, projection: Projection) -> None:
    arrays = {"coords": projection.coords}
    if projection.mean is not None and projection.components is not None:
        arrays.update(mean=projection.mean, components=projection.components)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_cache_file(path, buffer.getvalue())


def project(embeddings: np.ndarray, settings: ProjectionSettings = ProjectionSettings(),
            progress: ProgressCallback = no_progress, *, data_key: str | None = None,
            cache_dir: Path | None = DEFAULT_CACHE_DIR) -> Projection:
    """Coordinates for `embeddings` (n, dim) under `settings`, from the disk cache when there.

    `data_key` names the data (e.g. `MapPoints.fingerprint`) to skip hashing the
    matrix again; `cache_dir=None` turns the cache off.
    """
    settings.check()
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2:
        raise ProjectionError(f"expected a (points, dimensions) matrix, got shape {embeddings.shape}")
    settings = settings.for_points(len(embeddings))
    path = None
    if cache_dir is not None:
        data_key = data_key or fingerprint([], embeddings)
        path = cache_path(cache_dir, data_key, settings)
        cached = read_cached(len(embeddings), settings, data_key=data_key, cache_dir=cache_dir)
        if cached is not None:
            progress(ProgressEvent("read from cache", 1, 1))
            return cached
    result = _compute(embeddings, settings, progress)
    if path is not None:
        _write_cache(path, result)
    return result


def place_queries(query_embeddings: np.ndarray, embeddings: np.ndarray, projection: Projection,
                  k: int = 10) -> np.ndarray:
    """Map positions for new vectors (queries) on an existing map, (m, dims).

    PCA: the exact linear map. t-SNE/UMAP: the mean of the k most similar
    points' positions weighted by similarity (cosine or inverse distance, as
    the map's metric says).
    """
    settings = projection.settings
    queries = prepared_vectors(np.atleast_2d(np.asarray(query_embeddings, dtype=np.float32)), settings.metric)
    if projection.mean is not None and projection.components is not None:
        return (queries - projection.mean) @ projection.components.T
    points = prepared_vectors(embeddings, settings.metric)
    k = max(1, min(k, len(points)))
    if settings.metric == "cosine":
        closeness = queries @ points.T
    else:
        closeness = closeness_of(np.linalg.norm(points[None, :, :] - queries[:, None, :], axis=2), "euclidean")
    nearest = np.argsort(-closeness, axis=1)[:, :k]
    return weighted_positions(np.take_along_axis(closeness, nearest, axis=1), projection.coords[nearest])
