"""Exploring a map: what a click or a box/lasso selection picked, a point's nearest
neighbours in the full embedding space, the table of a selection, a search
restricted to it, a phrase filter and where to write each cluster's label.

The map's 2-D distances are a distorted picture; neighbours here are found on
the stored vectors (cosine, or euclidean when the map says so), and each
neighbour also gets its rank by distance on the map, so the user sees how far
the picture strays from the model's own notion of closeness.

Points on the figure carry their row in the map as plotly `customdata`, so a
selection event names rows directly whatever trace (group, highlight) was hit.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .bundle import Bundle, named_sources
from .columns import take
from .errors import ExplorerError
from .keyword import Analyzer, BM25Settings
from .projection import MapPoints, Metric, prepared_vectors, vector_norms
from .search import FusionSettings, Mode, fuse
from .types import Hit

# Hover text is the only per-point string the browser receives: ~2.5 MB for the whole map,
# so 2,400 points get 100 characters each and 100,000 get 25. The click shows the rest.
HOVER_BUDGET_CHARS = 2_500_000
HOVER_MIN_CHARS, HOVER_MAX_CHARS = 25, 100
NOISE = -1


def hover_chars(n_points: int) -> int:
    return int(np.clip(HOVER_BUDGET_CHARS // max(n_points, 1), HOVER_MIN_CHARS, HOVER_MAX_CHARS))


def hover_texts(texts: Sequence[str]) -> np.ndarray:
    """A short escaped preview per point (document text never becomes markup), sized to the map.
    An object array: plotly checks it ten times faster than a list (1 s at 100,000 points)."""
    limit = hover_chars(len(texts))
    out = []
    for text in texts:
        flat = " ".join(text[:limit * 2].split())
        out.append(html.escape(flat if len(flat) <= limit else flat[:limit - 1] + "…", quote=False))
    return np.array(out, dtype=object)


@dataclass(frozen=True)
class ChartPick:
    """What the user picked on the chart: rows of the map (not trace indices)."""

    rows: tuple[int, ...]
    region: bool  # a box or lasso selection (else a click on one point, or nothing)

    @property
    def clicked(self) -> int | None:
        return self.rows[0] if self.rows and not self.region else None


def chart_pick(selection: Mapping[str, Any] | None, n_points: int) -> ChartPick:
    """Rows picked in a Streamlit plotly selection event (`event.selection`); points without a
    row (query markers, lines) and rows off the map are ignored, duplicates kept once."""
    if not selection:
        return ChartPick((), False)
    rows: dict[int, None] = {}
    for point in selection.get("points") or []:
        row = point.get("customdata")
        if isinstance(row, list):
            row = row[0] if row else None
        if isinstance(row, (int, float)) and 0 <= int(row) < n_points:
            rows[int(row)] = None
    region = bool(selection.get("box") or selection.get("lasso"))
    return ChartPick(tuple(rows), region)


@dataclass(frozen=True)
class Neighbour:
    row: int
    similarity: float  # cosine (or minus euclidean distance on a euclidean map) in the full space
    map_rank: int  # 1 = the closest point on the map to the clicked one


def nearest_neighbours(embeddings: np.ndarray, coords: np.ndarray, row: int, k: int = 10,
                       metric: Metric = "cosine", norms: np.ndarray | None = None) -> list[Neighbour]:
    """The k points nearest to `row` in the full embedding space, best first, with their rank on the map.
    `norms`: the vectors' lengths, kept by the caller (`MapPoints.norms`), so cosine closeness needs one pass
    over the vectors and no normalised copy of them (1.5 GB at a million)."""
    n = len(embeddings)
    if not 0 <= row < n:
        raise ExplorerError(f"point {row} is not on this map of {n} points")
    if metric == "cosine":
        lengths = norms if norms is not None else vector_norms(embeddings)
        closeness = (embeddings @ embeddings[row]) / np.maximum(lengths * lengths[row], 1e-12)
    else:
        closeness = -np.linalg.norm(embeddings - embeddings[row], axis=1)
    closeness[row] = -np.inf
    k = min(k, n - 1)
    best = np.argpartition(-closeness, k - 1)[:k] if k > 0 else np.array([], dtype=int)
    best = best[np.lexsort((best, -closeness[best]))]
    offsets = coords - coords[row]
    on_map = np.einsum("ij,ij->i", offsets, offsets)  # squared: the same order, without a root per point
    on_map[row] = -np.inf  # the point itself sorts first and is not counted
    return [Neighbour(int(i), float(closeness[i]), map_rank(on_map, int(i))) for i in best]


def map_rank(on_map: np.ndarray, i: int) -> int:
    """Point i's place among the points ordered by their distance on the map (ties by row), without
    sorting them all: a million-point sort per click was a tenth of a second."""
    ahead = on_map < on_map[i]
    ties = np.count_nonzero(on_map[:i] == on_map[i])
    return int(np.count_nonzero(ahead)) + int(ties)


def phrase_matches(texts: Sequence[str], phrase: str) -> np.ndarray:
    """Which texts contain `phrase` (case and runs of whitespace ignored); an empty phrase matches none."""
    wanted = " ".join(phrase.lower().split())
    if not wanted:
        return np.zeros(len(texts), dtype=bool)
    return np.fromiter((wanted in " ".join(t.lower().split()) for t in texts), dtype=bool, count=len(texts))


# Metadata every chunk has, or that says where it came from rather than what it is about.
INTERNAL_FIELDS = frozenset({"source", "category", "start", "end", "index", "chunking", "content_hash", "hash",
                             "document_hash", "ingested", "page"})
MAX_FIELD_VALUES = 500


@dataclass(frozen=True)
class MapFilter:
    """Which chunks the map shows: any of these categories and sources (empty: all), and, given a
    metadata field, any of its values."""

    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    field: str | None = None
    values: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.categories or self.sources or (self.field and self.values))


def filter_rows(points: MapPoints, wanted: MapFilter) -> np.ndarray:
    """Rows (in order) whose metadata passes the filter: categories and sources from their columns, a
    metadata field from each chunk's metadata."""
    n = len(points.chunks.ids)
    keep = np.ones(n, dtype=bool)
    if wanted.categories:
        keep &= points.categories.isin(wanted.categories)
    if wanted.sources:
        keep &= points.sources.isin(wanted.sources)
    if wanted.field is not None and wanted.values:
        field, values = wanted.field, set(wanted.values)
        keep &= np.fromiter((str(m.get(field, "")) in values for m in points.chunks.metadatas), dtype=bool, count=n)
    return np.flatnonzero(keep)


def metadata_fields(metadatas: Sequence[Mapping[str, Any]], sample: int = 50_000) -> dict[str, list[str]]:
    """Metadata fields worth filtering by (not INTERNAL_FIELDS, at most MAX_FIELD_VALUES distinct values
    among the first `sample` chunks) and their values, sorted."""
    seen: dict[str, set[str]] = {}
    for m in metadatas[:sample]:
        for key, value in m.items():
            if key in INTERNAL_FIELDS or not isinstance(value, (str, int, float, bool)):
                continue
            values = seen.setdefault(key, set())
            if len(values) <= MAX_FIELD_VALUES:
                values.add(str(value))
    return {key: sorted(values) for key, values in sorted(seen.items()) if len(values) <= MAX_FIELD_VALUES}


@dataclass(frozen=True)
class ClusterCentre:
    id: int
    position: tuple[float, ...]  # median of the members' map coordinates: robust to a few strays


def cluster_centres(coords: np.ndarray, labels: np.ndarray) -> list[ClusterCentre]:
    """Where to write each cluster's label on the map (outliers get none)."""
    return [ClusterCentre(int(c), tuple(float(v) for v in np.median(coords[labels == c], axis=0)))
            for c in sorted(set(labels.tolist()) - {NOISE})]


def selection_frame(points: MapPoints, rows: Sequence[int], cluster_names: Sequence[str] | None = None,
                    full_paths: bool = True) -> pd.DataFrame:
    """The selected chunks as a table (what the page shows and the CSV export holds): id, source (as stored,
    or as the app shows it: `bundle.named_sources`), category, cluster (when clustered) and the full text."""
    chunks = points.chunks
    rows = list(rows)
    frame = pd.DataFrame({
        "id": take(chunks.ids, rows),
        "source": list(named_sources(points, rows, full_paths)),
        "category": points.categories.take(rows),
    })
    if cluster_names is not None:
        frame["cluster"] = [cluster_names[i] for i in rows]
    frame["text"] = take(chunks.texts, rows)
    return frame


def map_frame(view: Bundle, texts: Sequence[str], cluster_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Every point of the map with its coordinates, labels and text: the map's CSV export."""
    frame = pd.DataFrame(view.coords, columns=["x", "y", "z"][:view.projection.dims])
    frame.insert(0, "id", view.ids)
    frame["source"], frame["category"] = view.sources, view.categories
    if cluster_names is not None:
        frame["cluster"] = cluster_names
    frame["text"] = list(texts)
    return frame


def frame_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


@dataclass(frozen=True)
class WithinResult:
    row: int
    rank: int
    score: float  # cosine, BM25, or fused, as the mode says


def _bm25_hits(texts: Sequence[str], query: str, depth: int) -> list[Hit]:
    """BM25 over just these texts, analysed and scored by the app's one BM25 definition."""
    import bm25s

    settings = BM25Settings()
    analyzer = Analyzer(settings)
    model = bm25s.BM25(k1=settings.k1, b=settings.b, method="lucene", csc_backend="scipy")
    model.index(analyzer.corpus(texts), show_progress=False)
    terms = [t for t in analyzer.terms(query) if t in model.vocab_dict]
    if not terms:
        return []
    scores = model.get_scores(terms)
    best = [int(i) for i in np.argsort(-scores, kind="stable")[:depth] if scores[i] > 0]
    return [Hit(str(i), "", {}, float(scores[i]), rank) for rank, i in enumerate(best, start=1)]


def search_within(points: MapPoints, rows: Sequence[int], query: str, query_vector: np.ndarray | None,
                  mode: Mode = "hybrid", k: int = 10, fusion: FusionSettings = FusionSettings()) -> list[WithinResult]:
    """Search restricted to the selected rows: the selection is the whole corpus (BM25's
    statistics included), ranked by cosine, BM25 or their fusion as in `core.search`."""
    rows = list(dict.fromkeys(rows))
    if not query.strip() or not rows or k <= 0:
        return []
    if mode != "keyword" and query_vector is None:
        raise ExplorerError("a vector or hybrid search needs the query's embedding")
    depth = max(k, fusion.depth) if mode == "hybrid" else k
    vector_hits: list[Hit] = []
    if mode != "keyword":
        assert points.chunks.embeddings is not None and query_vector is not None
        vectors = prepared_vectors(points.chunks.embeddings[rows], "cosine")
        cosines = vectors @ prepared_vectors(np.atleast_2d(query_vector), "cosine")[0]
        order = np.argsort(-cosines, kind="stable")[:depth]
        vector_hits = [Hit(str(i), "", {}, float(cosines[i]), rank) for rank, i in enumerate(order, start=1)]
    keyword_hits = _bm25_hits([points.chunks.texts[r] for r in rows], query, depth) if mode != "vector" else []
    if mode == "hybrid":
        ranked = [(int(f.id), f.score) for f in fuse(vector_hits, keyword_hits, fusion)]
    else:
        ranked = [(int(h.id), h.score) for h in (vector_hits or keyword_hits)]
    return [WithinResult(rows[i], rank, score) for rank, (i, score) in enumerate(ranked[:k], start=1)]
