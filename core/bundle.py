"""Session bundles: one JSON file that reproduces a map view for a demo.

A bundle holds what is needed to show the same picture again without the
model, the store or minutes of t-SNE: which collection and embedder and chunk
settings it came from, the projection settings, every point's id, position,
source, category and hover text, and the queries asked with their positions
and retrieved ids. Importing it restores the view as it was; the settings
recorded alongside say how to recompute it from scratch.

The store URL is deliberately left out: a PostgreSQL URL can carry a password. A shared app
names each point's source as it shows it (`full_paths=False`): a file's path on the server stays there.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Any, Iterator, Sequence

import numpy as np

from .documents import shown_sources
from .errors import ExplorerError
from .projection import MapPoints, Projection, ProjectionSettings
from .types import EmbedderInfo

FORMAT = "embedding-explorer-session"
VERSION = 1
PREVIEW_CHARS = 200


class BundleError(ExplorerError):
    """A file that is not a session bundle this version can read."""


@dataclass(frozen=True)
class BundleQuery:
    text: str
    mode: str
    k: int
    position: tuple[float, ...]  # where the query sat on the map
    result_ids: tuple[str, ...]  # retrieved chunks, best first


@dataclass(frozen=True)
class Bundle:
    collection: str
    embedder: EmbedderInfo
    chunking: tuple[str, ...]  # ChunkSettings keys the points were cut with
    projection: ProjectionSettings
    total: int  # chunks in the collection (more than len(ids) when the map was sampled)
    # Tuples when read from a file; a live map's are its points' columns, read in place (core.columns).
    ids: Sequence[str]
    coords: np.ndarray  # (n, dims)
    sources: Sequence[str]
    categories: Sequence[str]
    texts: Sequence[str]  # the first PREVIEW_CHARS characters of each chunk
    queries: tuple[BundleQuery, ...] = ()
    created: str = ""


def preview(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1] + "…"


class Previews(Sequence[str]):
    """Each text's preview, made when read: a million previews built up front took a second of the first view."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = texts

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [preview(t) for t in self.texts[index]]
        return preview(self.texts[index])

    def __iter__(self) -> Iterator[str]:
        return (preview(t) for t in self.texts)


def map_bundle(collection: str, embedder: EmbedderInfo, points: MapPoints, projection: Projection,
               queries: tuple[BundleQuery, ...] = (), full_paths: bool = True) -> Bundle:
    """The bundle of a map just computed: what the page shows and what an export writes. Sources are
    as stored (a file's full path), or with `full_paths=False` as the app shows them."""
    return Bundle(collection=collection, embedder=embedder, chunking=tuple(points.fields["chunking"].distinct()),
                  projection=projection.settings, total=points.total, ids=points.chunks.ids,
                  coords=projection.coords, sources=named_sources(points, full_paths=full_paths),
                  categories=points.categories, texts=Previews(points.chunks.texts), queries=queries)


def named_sources(points: MapPoints, rows: Sequence[int] | None = None, full_paths: bool = True) -> Sequence[str]:
    """Each point's source (or each of `rows`') as an export names it: as stored, or as the app shows it
    (`shown_sources`, over every source of the map, so a name does not depend on the rows asked for)."""
    stored = points.sources if rows is None else points.sources.take(rows)
    if full_paths:
        return stored
    shown = shown_sources(points.sources.distinct())
    return [shown.get(s, s) for s in stored]


def to_json(bundle: Bundle) -> bytes:
    data = {
        "format": FORMAT, "version": VERSION,
        "created": bundle.created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "collection": bundle.collection, "embedder": asdict(bundle.embedder),
        "chunking": list(bundle.chunking), "projection": asdict(bundle.projection), "total": bundle.total,
        "points": {"ids": list(bundle.ids), "coords": np.round(bundle.coords.astype(float), 6).tolist(),
                   "sources": list(bundle.sources), "categories": list(bundle.categories),
                   "texts": [preview(t) for t in bundle.texts]},
        "queries": [asdict(q) for q in bundle.queries],
    }
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def _require(data: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise BundleError(f"session bundle is damaged: '{key}' is missing or of the wrong type")
    return value


def from_json(raw: bytes | str) -> Bundle:
    """Parse and check a bundle; any problem is a BundleError naming it."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"not a session bundle (not JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BundleError("not an Embedding Explorer session bundle (no 'format' field saying so)")
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise BundleError(f"session bundle version {version!r} is newer than this app reads ({VERSION}); "
                          "update Embedding Explorer")
    try:
        points = _require(data, "points", dict)
        embedder = EmbedderInfo(**_require(data, "embedder", dict))
        settings_fields = {f.name for f in fields(ProjectionSettings)}
        projection = ProjectionSettings(**{k: v for k, v in _require(data, "projection", dict).items()
                                           if k in settings_fields})
        projection.check()
        ids = tuple(str(i) for i in _require(points, "ids", list))
        coords = np.asarray(_require(points, "coords", list), dtype=np.float32)
        columns = [tuple(str(v) for v in _require(points, name, list)) for name in ("sources", "categories", "texts")]
        queries = tuple(BundleQuery(text=str(q["text"]), mode=str(q["mode"]), k=int(q["k"]),
                                    position=tuple(float(v) for v in q["position"]),
                                    result_ids=tuple(str(i) for i in q["result_ids"]))
                        for q in _require(data, "queries", list))
    except (TypeError, ValueError, KeyError) as exc:
        raise BundleError(f"session bundle is damaged: {exc}") from None
    if coords.shape != (len(ids), projection.dims) or any(len(c) != len(ids) for c in columns):
        raise BundleError(f"session bundle is damaged: {len(ids)} ids but coordinates of shape {coords.shape} "
                          f"for a {projection.dims}-D map, or columns of other lengths")
    if any(len(q.position) != projection.dims for q in queries):
        raise BundleError("session bundle is damaged: a query position has the wrong number of dimensions")
    return Bundle(collection=str(_require(data, "collection", str)), embedder=embedder,
                  chunking=tuple(str(c) for c in _require(data, "chunking", list)), projection=projection,
                  total=int(_require(data, "total", int)), ids=ids, coords=coords, sources=columns[0],
                  categories=columns[1], texts=columns[2], queries=queries, created=str(data.get("created", "")))
