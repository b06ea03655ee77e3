"""Chroma, embedded (a persistent folder) or as a server (chromadb.HttpClient).

Chroma keeps the vectors; a BM25 index beside each collection keeps the keyword
side. Every write stamps the collection with a fresh `keyword_version`, and the
BM25 index is rebuilt lazily when its fingerprint no longer matches, so the two
never drift apart, even with several processes writing to one store.
"""
from __future__ import annotations

import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import chromadb
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings
from chromadb.utils.embedding_functions import register_embedding_function

from ..errors import CollectionNotFound, EmbedderMismatch, StoreUnavailable
from ..keyword import BM25Index
from ..types import Chunk, CollectionInfo, EmbedderInfo, Filter, Hit, Metadata, SourceInfo
from .base import PAGE_SIZE, StoredChunks, check_collection_name, check_same_embedder, valid_collection_name

# Chroma caps one request's batch; reads and writes are paged below it.
PAGE = 2000


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


class ChromaCollection:
    def __init__(self, client: Any, raw: Any, embedder: EmbedderInfo, keyword_dir: Path):
        self._client = client
        self._raw = raw
        self.name: str = raw.name
        self.embedder = embedder
        self._keyword = BM25Index(keyword_dir / raw.name)

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
        for lo in range(0, len(chunks), PAGE):
            part = chunks[lo:lo + PAGE]
            self._raw.upsert(
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
        for lo in range(0, len(ids), PAGE):
            self._raw.delete(ids=list(ids[lo:lo + PAGE]))
        if ids:
            self._bump_keyword_version()

    def delete_source(self, source: str, keep_ids: Sequence[str] = ()) -> int:
        ids = self._raw.get(where={"source": source}, include=[])["ids"]
        doomed = sorted(set(ids) - set(keep_ids))
        self.delete_ids(doomed)
        return len(doomed)

    # -- reading -------------------------------------------------------------
    def count(self) -> int:
        return self._raw.count()

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for lo in range(0, len(ids), PAGE):
            found.update(self._raw.get(ids=list(ids[lo:lo + PAGE]), include=[])["ids"])
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
            page = self._raw.get(ids=list(ids) if ids is not None else None, where=chroma_where(where),
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
        n = self.count()
        if n == 0 or k <= 0:
            return []
        result = self._raw.query(query_embeddings=[np.asarray(embedding, dtype=np.float32)],
                                 n_results=min(k, n), where=chroma_where(where),
                                 include=["documents", "metadatas", "distances"])
        rows = zip(result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0])
        # The collection uses cosine space: distance = 1 - cosine similarity.
        return [Hit(id=i, text=t, metadata=m, score=1.0 - float(d), rank=r)
                for r, (i, t, m, d) in enumerate(rows, start=1)]

    def sync_keyword_index(self) -> None:
        # Read the version before the rows: a write landing in between changes the
        # version again, so the next search rebuilds rather than trusting a stale index.
        self._raw = self._client.get_collection(self.name)  # metadata as other processes left it
        version = str((self._raw.metadata or {}).get("keyword_version", "empty"))
        if self._keyword.fingerprint != version:
            everything = self.get()
            self._keyword.rebuild(everything.ids, everything.texts, everything.metadatas, version)

    def keyword_search(self, query: str, k: int, where: Filter | None = None) -> list[Hit]:
        self.sync_keyword_index()
        return self._keyword.search(query, k, where)


class ChromaStore:
    """`url` is a folder path (embedded) or chroma://HOST:PORT (a running Chroma server)."""

    def __init__(self, url: str, keyword_root: Path | None = None):
        self.url = url
        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        try:
            if url.startswith("chroma://"):
                host, _, port = url.removeprefix("chroma://").rstrip("/").partition(":")
                self._client = chromadb.HttpClient(host=host, port=int(port or 8000), settings=settings)
                self._client.heartbeat()
                from ..config import DATA_DIR
                default_root = DATA_DIR / "cache" / "keyword" / f"{host}-{port or 8000}"
            else:
                Path(url).mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=url, settings=settings)
                default_root = Path(url) / "keyword"
        except (ValueError, ConnectionError, OSError) as exc:
            raise StoreUnavailable(f"cannot open the Chroma store at {url}: {exc}") from exc
        except Exception as exc:  # chromadb raises its own errors for an unreachable server
            raise StoreUnavailable(f"cannot reach the Chroma server at {url} ({type(exc).__name__}); "
                                   "is `chroma run` started?") from exc
        self.keyword_root = keyword_root or default_root

    def _raw_collection(self, name: str) -> Any:
        if not valid_collection_name(name):  # no such collection can exist; nor may it reach a server URL path
            raise CollectionNotFound(f"no collection named '{name}' in {self.url}")
        try:
            return self._client.get_collection(name)
        except Exception as exc:  # NotFoundError in chromadb; ValueError in older releases
            if "does not exist" in str(exc) or type(exc).__name__ in {"NotFoundError", "InvalidCollectionException"}:
                raise CollectionNotFound(f"no collection named '{name}' in {self.url}") from exc
            raise

    @staticmethod
    def _embedder_of(raw: Any) -> EmbedderInfo:
        meta = raw.metadata or {}
        return EmbedderInfo(name=str(meta.get("embedder", "unknown")), dimension=int(meta.get("dimension", 0)))

    def list_collections(self) -> list[CollectionInfo]:
        infos = []
        for raw in self._client.list_collections():
            infos.append(CollectionInfo(name=raw.name, embedder=self._embedder_of(raw), count=raw.count()))
        return sorted(infos, key=lambda info: info.name)

    def collection_embedder(self, name: str) -> EmbedderInfo:
        return self._embedder_of(self._raw_collection(name))

    def open_collection(self, name: str, embedder: EmbedderInfo, create: bool = True) -> ChromaCollection:
        check_collection_name(name)
        try:
            raw = self._raw_collection(name)
        except CollectionNotFound:
            if not create:
                raise
            raw = self._client.get_or_create_collection(
                name,
                metadata={"embedder": embedder.name, "dimension": embedder.dimension, "keyword_version": "empty"},
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=ExplorerEmbeddingFunction(embedder.name),
            )
        stored = self._embedder_of(raw)
        check_same_embedder(name, stored, embedder)
        return ChromaCollection(self._client, raw, stored, self.keyword_root)

    def delete_collection(self, name: str) -> None:
        self._raw_collection(name)
        self._client.delete_collection(name)
        BM25Index(self.keyword_root / name).clear()
