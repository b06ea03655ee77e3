"""Someone else's Chroma folder, read through a copy so that looking changes nothing.

A RAG system's Chroma folder was made by other code, maybe by another chromadb
release. chromadb writes to a folder just by opening it (and migrates an older
one in place), so the folder is never opened here: its SQLite catalog is read
read-only to see what it holds and which chromadb schema made it, and the whole
folder is copied under data/cache/foreign/, where it is opened (and, for an
older release, migrated). The copy is refreshed when the original changes.

Each collection keeps its own vectors. Its query model comes from its saved
embedding-function config when that names a model this app runs *and* the
model reproduces a sample of the stored vectors (cosine >= 0.99, see
`core.workspace.check_query_embedder`); otherwise it opens as vectors-only:
maps, clusters, near-duplicates and keyword search work, and text queries say
why they cannot. Every write is refused.
"""
from __future__ import annotations

import functools
import hashlib
import json
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import CollectionNotFound, ExplorerError, ReadOnlyStore
from ..types import CollectionInfo, EmbedderInfo
from .base import Collection

CATALOG = "chroma.sqlite3"
OURS = "embedder"  # collection metadata key every collection of ours carries
# Saved embedding-function configs that mean a model this app runs.
KNOWN_FUNCTIONS = {"default": "minilm", "onnx_mini_lm_l6_v2": "minilm"}
KNOWN_MODELS = {"all-minilm-l6-v2": "minilm", "sentence-transformers/all-minilm-l6-v2": "minilm",
                "text-embedding-3-small": "openai-small", "text-embedding-3-large": "openai-large"}


@dataclass(frozen=True)
class FolderCollection:
    name: str
    dimension: int
    function: str  # the saved embedding function's name, "" when none
    model: str     # its model_name setting, "" when none
    ours: bool


@dataclass(frozen=True)
class ChromaFolder:
    """What a Chroma folder holds, read from its catalog without opening it with chromadb."""

    path: Path
    collections: tuple[FolderCollection, ...]
    schema: dict[str, int]  # migration directory -> highest version applied

    @property
    def foreign(self) -> bool:
        """Made by other code: it holds collections and none of them is ours."""
        return bool(self.collections) and not any(c.ours for c in self.collections)


def _function(config_json: str | None) -> tuple[str, str]:
    """(embedding function name, model name) from a collection's saved configuration, wherever it sits."""
    try:
        config = [json.loads(part) if isinstance(part, str) else part for part in json.loads(config_json or "[]")]
    except json.JSONDecodeError:
        return "", ""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            function = node.get("embedding_function")
            if isinstance(function, dict) and function.get("name"):
                found.append(function)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(config)
    if not found:
        return "", ""
    function = found[0]
    settings = function.get("config") or {}
    model = settings.get("model_name") or settings.get("model") or settings.get("embedder") or ""
    return str(function["name"]), str(model)


def survey(path: Path | str) -> ChromaFolder | None:
    """The folder's catalog read in SQLite's read-only, immutable mode (no lock, no journal); None if none."""
    path = Path(path)
    catalog = path / CATALOG
    if not catalog.is_file():
        return None
    try:
        db = sqlite3.connect(f"file:{catalog}?mode=ro&immutable=1", uri=True)
        try:
            schema = dict(db.execute("SELECT dir, max(version) FROM migrations GROUP BY dir").fetchall())
            columns = {row[1] for row in db.execute("PRAGMA table_info(collections)")}
            # chromadb keeps the embedding function in config_json_str, or (1.x) in schema_str.
            saved = [c for c in ("config_json_str", "schema_str") if c in columns]
            config = f"json_array({', '.join(saved)})" if saved else "NULL"
            rows = db.execute(f"SELECT id, name, dimension, {config} FROM collections").fetchall()
            ours = {row[0] for row in db.execute("SELECT collection_id FROM collection_metadata WHERE key = ?",
                                                 [OURS])}
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise ExplorerError(f"{path} has a {CATALOG} that is not a Chroma catalog SQLite can read ({exc})") from exc
    collections = tuple(FolderCollection(name, int(dimension or 0), *_function(config_json), ours=cid in ours)
                        for cid, name, dimension, config_json in rows)
    return ChromaFolder(path, collections, schema)


@functools.lru_cache(maxsize=1)
def current_schema() -> dict[str, int]:
    """The catalog schema this chromadb writes, read off a new empty folder."""
    import chromadb
    from chromadb.config import Settings

    with tempfile.TemporaryDirectory() as folder:
        chromadb.PersistentClient(path=folder, settings=Settings(anonymized_telemetry=False))
        found = survey(folder)
    assert found is not None
    return found.schema


def _fingerprint(path: Path) -> str:
    """Changes whenever any file of the folder does (names, sizes, modification times)."""
    h = hashlib.sha256(str(path.resolve()).encode())
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        stat = file.stat()
        h.update(f"{file.relative_to(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def query_model(collection: FolderCollection) -> str | None:
    """The model of ours a saved embedding function names, if any."""
    if collection.function == "embedding-explorer":
        return collection.model or None
    return KNOWN_MODELS.get(collection.model.lower()) or KNOWN_FUNCTIONS.get(collection.function)


class ReadOnlyCollection:
    """A collection whose writes are refused; everything else is the wrapped collection's."""

    def __init__(self, inner: Collection, origin: str):
        self._inner, self._origin = inner, origin
        self.name, self.embedder = inner.name, inner.embedder

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._inner, attribute)

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise ReadOnlyStore(f"'{self.name}' belongs to {self._origin}, which this app only reads; copy it into a "
                            "store of ours (`python -m core copy`) to change it")

    upsert = delete_ids = delete_source = _refuse

    def bulk_write(self, rows: int) -> Iterator[None]:
        self._refuse()


class ForeignChromaStore:
    """A Chroma folder made by other code (see the module docstring); `notice` says so in words."""

    def __init__(self, url: str, folder: ChromaFolder, cache_root: Path | None = None):
        from ..config import DATA_DIR
        from .chroma import ChromaStore

        self.url = url
        current = current_schema()
        newer = {d: v for d, v in folder.schema.items() if v > current.get(d, 0)}
        if newer:
            raise ExplorerError(f"{url} was made by a newer chromadb than this app's (catalog schema "
                                f"{folder.schema}, this one writes {current}); export it there, or upgrade chromadb")
        migrated = folder.schema != current
        root = cache_root or DATA_DIR / "cache" / "foreign"
        copy = root / _fingerprint(folder.path)
        if not copy.is_dir():
            self._make_copy(folder, copy)
        self._inner = ChromaStore(str(copy))
        self.copy = copy
        self.notice = (f"{url} was made by another program{' with an older chromadb' if migrated else ''}: this app "
                       f"reads a copy of it ({copy}){', migrated to the current chromadb' if migrated else ''} and "
                       "never writes to the original")

    def _make_copy(self, folder: ChromaFolder, copy: Path) -> None:
        """Copy, then label each collection of the copy with its model, so the ordinary store opens it."""
        import chromadb
        from chromadb.config import Settings

        staging = copy.with_name(copy.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(folder.path, staging)
        client = chromadb.PersistentClient(path=str(staging), settings=Settings(anonymized_telemetry=False))
        for found in folder.collections:
            raw = client.get_collection(found.name)
            sample = raw.get(limit=64, include=["documents", "embeddings"])
            stored = np.asarray(sample["embeddings"], dtype=np.float32) if len(sample["ids"]) else None
            dimension = found.dimension or (stored.shape[1] if stored is not None else 0)
            raw.modify(metadata={**(raw.metadata or {}), OURS: self._label(found, sample["documents"], stored),
                                 "dimension": dimension})
        staging.rename(copy)

    @staticmethod
    def _label(found: FolderCollection, texts: list[str | None], stored: np.ndarray | None) -> str:
        """Our model's name when the saved function names one that reproduces the stored vectors."""
        from ..embedders import EMBEDDERS, get_embedder
        from ..workspace import compare_with_stored

        model = query_model(found)
        if model in EMBEDDERS and EMBEDDERS[model].available and stored is not None:
            if compare_with_stored(get_embedder(model), [t or "" for t in texts], stored).matches:
                return model
        return f"imported:{found.model or found.function or 'unknown'}"

    def list_collections(self) -> list[CollectionInfo]:
        return self._inner.list_collections()

    def collection_embedder(self, name: str) -> EmbedderInfo:
        return self._inner.collection_embedder(name)

    def open_collection(self, name: str, embedder: EmbedderInfo, create: bool = True) -> Collection:
        try:
            inner = self._inner.open_collection(name, embedder, create=False)
        except CollectionNotFound:
            if create:
                raise ReadOnlyStore(f"{self.url} belongs to another program, which this app only reads: "
                                    "ingest into a store of ours instead") from None
            raise
        return ReadOnlyCollection(inner, f"the Chroma folder {self.url}")

    def delete_collection(self, name: str) -> None:
        raise ReadOnlyStore(f"{self.url} belongs to another program, which this app only reads")
