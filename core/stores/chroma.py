"""Chroma, embedded (a persistent folder) or as a server (chromadb.HttpClient).

Chroma keeps the vectors; a BM25 index beside each collection keeps the keyword
side. Every write stamps the collection with a fresh `keyword_version`, and the
BM25 index is rebuilt lazily when its fingerprint no longer matches, so the two
never drift apart, even with several processes writing to one store.

Chroma's embedded client is not process-safe: each process keeps its own copy of
a collection's segments in memory, so after another process writes to the folder
it reads stale ones (queries miss the new rows, `get` fails with "Error finding
id"). Every operation on a folder therefore holds a file lock (shared to read,
exclusive to write), and a process that finds the folder written by another
since it last looked opens its client afresh (`FolderLock`). A Chroma server has
no such problem; there, a server that stops answering becomes StoreUnavailable.
"""
from __future__ import annotations

import fcntl
import threading
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import chromadb
import httpx
import numpy as np
from chromadb.api.shared_system_client import SharedSystemClient
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings
from chromadb.utils.embedding_functions import register_embedding_function

from ..errors import CollectionNotFound, EmbedderMismatch, StoreUnavailable
from ..keyword import BM25Index
from ..types import Chunk, CollectionInfo, EmbedderInfo, Filter, Hit, Metadata, SourceInfo
from .base import PAGE_SIZE, StoredChunks, check_collection_name, check_same_embedder, valid_collection_name

# Chroma caps one request's batch; reads and writes are paged below it.
PAGE = 2000
LOCK_FILE = ".explorer.lock"              # in a store folder: locked around every operation
GENERATION_FILE = ".explorer.generation"  # rewritten by every write: a change means someone else wrote


@register_embedding_function
class ExplorerEmbeddingFunction(EmbeddingFunction[Documents]):
    """One of our embedders as a chromadb EmbeddingFunction.

    Chroma persists `get_config()` with the collection and rebuilds this function
    from it on reopen, so plain `chromadb` code (query_texts=...) embeds with the
    model that filled the collection and never with Chroma's downloading default.
    """

    def __init__(self, embedder: str):
        self.embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        from ..embedders import get_embedder  # loaded on first use, not when a collection opens
        return list(get_embedder(self.embedder).embed(list(input)))

    @staticmethod
    def name() -> str:
        return "embedding-explorer"

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self.embedder}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "ExplorerEmbeddingFunction":
        return ExplorerEmbeddingFunction(str(config["embedder"]))

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"


def chroma_where(where: Filter | None) -> dict[str, Any] | None:
    """Our Filter as a Chroma `where` clause."""
    if where is None or where.is_empty():
        return None
    clauses: list[dict[str, Any]] = []
    if where.categories:
        clauses.append({"category": {"$in": list(where.categories)}})
    if where.sources:
        clauses.append({"source": {"$in": list(where.sources)}})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class FolderLock:
    """Cross-process access to one store folder (see the module docstring).

    Calls nest (a write that reads first): only the outermost takes the file lock,
    and a thread lock keeps this process's threads (Streamlit sessions) in turn.
    `reopen` is called, under the lock, when another process wrote since this one last looked;
    a block that `changes` the store tells the others so when it ends.
    """

    def __init__(self, folder: Path, reopen: Callable[[], None]):
        self._lock_path = folder / LOCK_FILE
        self._generation_path = folder / GENERATION_FILE
        self._reopen = reopen
        self._threads = threading.RLock()
        self._depth = 0
        self._exclusive = False
        self._seen = self._generation()

    def _generation(self) -> str:
        try:
            return self._generation_path.read_text()
        except FileNotFoundError:
            return ""

    @contextmanager
    def hold(self, exclusive: bool, changes: bool) -> Iterator[None]:
        with self._threads:
            if self._depth:
                if exclusive and not self._exclusive:
                    raise RuntimeError("a shared hold on a Chroma folder cannot become exclusive")
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            with self._lock_path.open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                self._depth, self._exclusive = 1, exclusive
                try:
                    generation = self._generation()
                    if generation != self._seen:
                        self._reopen()
                        self._seen = generation
                    yield
                finally:
                    if changes:  # a write that failed half way may still have changed something
                        self._seen = uuid.uuid4().hex
                        self._generation_path.write_text(self._seen)
                    self._depth = 0
                    fcntl.flock(handle, fcntl.LOCK_UN)


class ChromaCollection:
    def __init__(self, store: ChromaStore, raw: Any, embedder: EmbedderInfo, keyword_dir: Path):
        self._store = store
        self._raw = raw
        self._opened = store.opened
        self.name: str = raw.name
        self.embedder = embedder
        self._keyword = BM25Index(keyword_dir / raw.name)
        self.folder: Path | None = store.folder  # where writes land on this machine (None for a server)

    @contextmanager
    def _use(self, write: bool = False, exclusive: bool = False) -> Iterator[Any]:
        """The Chroma collection, current and safe to use while the block runs."""
        with self._store.access(write, exclusive):
            if self._opened != self._store.opened:  # the client was reopened: so is the collection
                self._raw = self._store.raw_collection(self.name)
                self._opened = self._store.opened
            yield self._raw

    # -- writing -------------------------------------------------------------
    def _bump_keyword_version(self) -> None:
        metadata = dict(self._raw.metadata or {})
        metadata["keyword_version"] = uuid.uuid4().hex
        self._raw.modify(metadata=metadata)

    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        if not chunks:
            return
        if embeddings.shape != (len(chunks), self.embedder.dimension):
            raise EmbedderMismatch(
                f"collection '{self.name}' holds {self.embedder.dimension}-dimensional vectors; "
                f"got {embeddings.shape[1]}-dimensional ones")
        with self._use(write=True) as raw:
            for lo in range(0, len(chunks), PAGE):
                part = chunks[lo:lo + PAGE]
                raw.upsert(
                    ids=[c.id for c in part],
                    documents=[c.text for c in part],
                    metadatas=[c.metadata for c in part],
                    embeddings=embeddings[lo:lo + PAGE],
                )
            self._bump_keyword_version()

    @contextmanager
    def bulk_write(self, rows: int) -> Iterator[None]:
        yield  # Chroma keeps its HNSW index current as it writes; the BM25 index is rebuilt lazily anyway

    def delete_ids(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._use(write=True) as raw:
            for lo in range(0, len(ids), PAGE):
                raw.delete(ids=list(ids[lo:lo + PAGE]))
            self._bump_keyword_version()

    def delete_source(self, source: str, keep_ids: Sequence[str] = ()) -> int:
        with self._use(write=True) as raw:
            ids = raw.get(where={"source": source}, include=[])["ids"]
            doomed = sorted(set(ids) - set(keep_ids))
            self.delete_ids(doomed)
        return len(doomed)

    # -- reading -------------------------------------------------------------
    def count(self) -> int:
        with self._use() as raw:
            return raw.count()

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self._use() as raw:
            for lo in range(0, len(ids), PAGE):
                found.update(raw.get(ids=list(ids[lo:lo + PAGE]), include=[])["ids"])
        return found

    def _metadatas(self) -> list[Metadata]:
        return self.get().metadatas

    def sources(self) -> list[SourceInfo]:
        counts: Counter[tuple[str, str]] = Counter(
            (str(m.get("source", "")), str(m.get("category", ""))) for m in self._metadatas())
        return [SourceInfo(source=s, category=c, chunks=n) for (s, c), n in sorted(counts.items())]

    def categories(self) -> list[str]:
        return sorted({str(m["category"]) for m in self._metadatas() if m.get("category")})

    def get(self, where: Filter | None = None, include_embeddings: bool = False,
            limit: int | None = None, ids: Sequence[str] | None = None) -> StoredChunks:
        pages = list(self._pages(where, include_embeddings, PAGE, limit, ids))
        return StoredChunks.concat(pages, self.embedder.dimension, include_embeddings)

    def iter_pages(self, where: Filter | None = None, include_embeddings: bool = False,
                   page_size: int = PAGE_SIZE) -> Iterator[StoredChunks]:
        return self._pages(where, include_embeddings, min(page_size, PAGE))

    def _pages(self, where: Filter | None, include_embeddings: bool, page_size: int,
               limit: int | None = None, ids: Sequence[str] | None = None) -> Iterator[StoredChunks]:
        include = ["documents", "metadatas"] + (["embeddings"] if include_embeddings else [])
        total = limit if limit is not None else self.count()
        offset = 0
        while offset < total:
            with self._use() as raw:  # a page at a time: a slow reader does not hold up writers
                page = raw.get(ids=list(ids) if ids is not None else None, where=chroma_where(where),
                               include=include, limit=min(page_size, total - offset), offset=offset)
            if not page["ids"]:
                break
            embeddings = None
            if include_embeddings:
                embeddings = np.asarray(page["embeddings"], dtype=np.float32).reshape(-1, self.embedder.dimension)
            yield StoredChunks(ids=page["ids"], texts=page["documents"], metadatas=page["metadatas"],
                               embeddings=embeddings)
            offset += len(page["ids"])

    def vector_search(self, embedding: np.ndarray, k: int, where: Filter | None = None) -> list[Hit]:
        if k <= 0:
            return []
        # No count() first: it costs as much as the query at 100k rows, and Chroma
        # simply returns fewer rows when asked for more than it holds.
        with self._use() as raw:
            result = raw.query(query_embeddings=[np.asarray(embedding, dtype=np.float32)],
                               n_results=k, where=chroma_where(where),
                               include=["documents", "metadatas", "distances"])
        rows = zip(result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0])
        # The collection uses cosine space: distance = 1 - cosine similarity.
        return [Hit(id=i, text=t, metadata=m, score=1.0 - float(d), rank=r)
                for r, (i, t, m, d) in enumerate(rows, start=1)]

    def sync_keyword_index(self) -> None:
        # Read the version before the rows: a write landing in between changes the
        # version again, so the next search rebuilds rather than trusting a stale index.
        if self._keyword_version() == self._keyword.fingerprint:
            return
        # Rebuilt by one process at a time: two at once would delete each other's half-written build.
        with self._use(exclusive=True):
            version = self._keyword_version()
            if self._keyword.fingerprint != version:
                everything = self.get()
                self._keyword.rebuild(everything.ids, everything.texts, everything.metadatas, version)

    def _keyword_version(self) -> str:
        with self._use():
            self._raw = self._store.raw_collection(self.name)  # metadata as other processes left it
            return str((self._raw.metadata or {}).get("keyword_version", "empty"))

    def version(self) -> str:
        return self._keyword_version()

    def keyword_search(self, query: str, k: int, where: Filter | None = None) -> list[Hit]:
        self.sync_keyword_index()
        return self._keyword.search(query, k, where)


class ChromaStore:
    """`url` is a folder path (embedded) or chroma://HOST:PORT (a running Chroma server)."""

    def __init__(self, url: str, keyword_root: Path | None = None):
        self.url = url
        self.opened = 0  # how many times the client was (re)opened; collections follow it
        self._settings = Settings(anonymized_telemetry=False, allow_reset=False)
        self._folder: FolderLock | None = None
        self.folder: Path | None = None if url.startswith("chroma://") else Path(url)
        try:
            if url.startswith("chroma://"):
                host, _, port = url.removeprefix("chroma://").rstrip("/").partition(":")
                self._client = chromadb.HttpClient(host=host, port=int(port or 8000), settings=self._settings)
                self._client.heartbeat()
                from ..config import DATA_DIR
                default_root = DATA_DIR / "cache" / "keyword" / f"{host}-{port or 8000}"
            else:
                Path(url).mkdir(parents=True, exist_ok=True)
                self._folder = FolderLock(Path(url), self._reopen)
                # Exclusive: the first client on a new folder creates its database, and two
                # processes doing that at once collide ("table collections already exists").
                with self._folder.hold(exclusive=True, changes=False):
                    self._client = chromadb.PersistentClient(path=url, settings=self._settings)
                default_root = Path(url) / "keyword"
        except (ValueError, ConnectionError, OSError) as exc:
            raise StoreUnavailable(f"cannot open the Chroma store at {url}: {exc}") from exc
        except Exception as exc:  # chromadb raises its own errors for an unreachable server or a bad folder
            if url.startswith("chroma://"):
                raise StoreUnavailable(f"cannot reach the Chroma server at {url} ({type(exc).__name__}); "
                                       "is `chroma run` started?") from exc
            raise StoreUnavailable(f"cannot open the Chroma store at {url} ({type(exc).__name__}: {exc})") from exc
        self.keyword_root = keyword_root or default_root

    def _reopen(self) -> None:
        """A fresh embedded client that reads the folder as it is now. Chroma shares one client
        system per folder within a process; dropping ours from that cache makes the next client
        load the segments from disk (the old system stays usable by whoever still holds it)."""
        SharedSystemClient._identifier_to_system.pop(self.url, None)
        self._client = chromadb.PersistentClient(path=self.url, settings=self._settings)
        self.opened += 1

    @contextmanager
    def access(self, write: bool = False, exclusive: bool = False) -> Iterator[None]:
        """Around every call into Chroma: a folder is locked (and reopened if another process
        wrote to it); a server that stopped answering is reported as StoreUnavailable."""
        try:
            if self._folder is None:
                yield
            else:
                with self._folder.hold(exclusive=write or exclusive, changes=write):
                    yield
        except httpx.TransportError as exc:  # connection refused or dropped, timeouts
            raise StoreUnavailable(f"lost the Chroma server at {self.url} ({type(exc).__name__}); "
                                   "is `chroma run` still running?") from exc

    def raw_collection(self, name: str) -> Any:
        if not valid_collection_name(name):  # no such collection can exist; nor may it reach a server URL path
            raise CollectionNotFound(f"no collection named '{name}' in {self.url}")
        try:
            with self.access():
                return self._client.get_collection(name)
        except StoreUnavailable:
            raise
        except Exception as exc:  # NotFoundError in chromadb; ValueError in older releases
            if "does not exist" in str(exc) or type(exc).__name__ in {"NotFoundError", "InvalidCollectionException"}:
                raise CollectionNotFound(f"no collection named '{name}' in {self.url}") from exc
            raise

    @staticmethod
    def _embedder_of(raw: Any) -> EmbedderInfo:
        meta = raw.metadata or {}
        return EmbedderInfo(name=str(meta.get("embedder", "unknown")), dimension=int(meta.get("dimension", 0)))

    def list_collections(self) -> list[CollectionInfo]:
        with self.access():
            infos = [CollectionInfo(name=raw.name, embedder=self._embedder_of(raw), count=raw.count())
                     for raw in self._client.list_collections()]
        return sorted(infos, key=lambda info: info.name)

    def collection_embedder(self, name: str) -> EmbedderInfo:
        return self._embedder_of(self.raw_collection(name))

    def open_collection(self, name: str, embedder: EmbedderInfo, create: bool = True) -> ChromaCollection:
        check_collection_name(name)
        with self.access(write=create):
            try:
                raw = self.raw_collection(name)
            except CollectionNotFound:
                if not create:
                    raise
                raw = self._client.get_or_create_collection(
                    name,
                    metadata={"embedder": embedder.name, "dimension": embedder.dimension,
                              "keyword_version": "empty"},
                    configuration={"hnsw": {"space": "cosine"}},
                    embedding_function=ExplorerEmbeddingFunction(embedder.name),
                )
            collection = ChromaCollection(self, raw, self._embedder_of(raw), self.keyword_root)
        check_same_embedder(name, collection.embedder, embedder)
        return collection

    def delete_collection(self, name: str) -> None:
        with self.access(write=True):
            self.raw_collection(name)
            self._client.delete_collection(name)
            BM25Index(self.keyword_root / name).clear()
