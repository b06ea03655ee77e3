"""The Store Protocol every backend implements (Chroma embedded, Chroma server, pgvector)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ContextManager, Iterator, Protocol, Sequence

import numpy as np

from ..errors import EmbedderMismatch, ExplorerError
from ..types import Chunk, CollectionInfo, EmbedderInfo, Filter, Hit, Metadata, SourceInfo

# Rows per page when a whole collection is streamed (copy, export): about 1.5 MB
# of 384-dimensional vectors, far below any server's request limit.
PAGE_SIZE = 1000
# Chroma's rule for collection names; every store keeps it so a collection can move between them.
COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")


def valid_collection_name(name: str) -> bool:
    return bool(COLLECTION_NAME.match(name)) and ".." not in name


def check_collection_name(name: str) -> None:
    if not valid_collection_name(name):
        raise ExplorerError(
            f"'{name}' is not a valid collection name: use 3-63 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit")


def check_same_embedder(name: str, stored: EmbedderInfo, asked: EmbedderInfo) -> None:
    """A collection is searched with the model that filled it, or not at all."""
    if stored != asked:
        raise EmbedderMismatch(
            f"collection '{name}' was made with {stored.name} ({stored.dimension} dimensions), "
            f"not {asked.name} ({asked.dimension}); search it with {stored.name} "
            "or ingest into a new collection")


@dataclass(frozen=True)
class StoredChunks:
    """Everything a map or a copy needs from a collection, row-aligned."""

    ids: list[str]
    texts: list[str]
    metadatas: list[Metadata]
    embeddings: np.ndarray | None  # (n, dim) float32, or None when not asked for

    @classmethod
    def concat(cls, pages: Sequence[StoredChunks], dimension: int, include_embeddings: bool) -> StoredChunks:
        """Pages from `iter_pages` as one block (an empty one for no pages)."""
        embeddings = None
        if include_embeddings:
            blocks = [p.embeddings for p in pages if p.embeddings is not None]
            embeddings = np.concatenate(blocks) if blocks else np.zeros((0, dimension), np.float32)
        return cls(ids=[i for p in pages for i in p.ids], texts=[t for p in pages for t in p.texts],
                   metadatas=[m for p in pages for m in p.metadatas], embeddings=embeddings)


class Collection(Protocol):
    name: str
    embedder: EmbedderInfo
    read_only: bool  # another program's data: never written to, and its gaps are its own, not damage

    def count(self) -> int: ...

    def version(self) -> str:
        """Changes on every write (add, delete, metadata update): the key of every cache and index.
        A count is not a version: an edit that keeps the number of chunks changes this too."""
        ...

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of these ids are already stored (to skip re-embedding)."""
        ...

    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        """Insert or replace chunks by id; the keyword index follows."""
        ...

    def delete_ids(self, ids: Sequence[str]) -> None:
        """Delete chunks by id (rolls back a file that failed half way)."""
        ...

    def bulk_write(self, rows: int) -> ContextManager[None]:
        """About `rows` rows will be upserted in this block (a copy, a big ingest): the store may
        defer index upkeep to the block's end, where it is cheaper done once."""
        ...

    def sync_keyword_index(self) -> None:
        """Bring the keyword index up to date with the vectors (no-op where the store keeps them together)."""
        ...

    def delete_source(self, source: str, keep_ids: Sequence[str] = ()) -> int:
        """Delete a document's chunks (except keep_ids); returns how many went."""
        ...

    def sources(self) -> list[SourceInfo]: ...

    def categories(self) -> list[str]: ...

    def vector_search(self, embedding: np.ndarray, k: int, where: Filter | None = None) -> list[Hit]:
        """k nearest chunks by cosine similarity (score = cosine), filter applied first."""
        ...

    def keyword_search(self, query: str, k: int, where: Filter | None = None) -> list[Hit]:
        """k best chunks by BM25 (bm25s's "lucene" scores, core.keyword.Analyzer terms: the same on every store)."""
        ...

    def get(self, where: Filter | None = None, include_embeddings: bool = False,
            limit: int | None = None, ids: Sequence[str] | None = None) -> StoredChunks: ...

    def iter_pages(self, where: Filter | None = None, include_embeddings: bool = False,
                   page_size: int = PAGE_SIZE) -> Iterator[StoredChunks]:
        """The rows `get` would return, a page at a time: memory stays flat however big the collection."""
        ...


class Store(Protocol):
    """A place collections live: a folder, a Chroma server, a PostgreSQL database."""

    url: str
    read_only: bool  # someone else's store: no collection is created in it, imported into it or deleted from it

    def list_collections(self) -> list[CollectionInfo]: ...

    def open_collection(self, name: str, embedder: EmbedderInfo, create: bool = True) -> Collection:
        """Open (or create) a collection; raises EmbedderMismatch if it was made by another model."""
        ...

    def collection_embedder(self, name: str) -> EmbedderInfo:
        """Which model made an existing collection; raises CollectionNotFound."""
        ...

    def delete_collection(self, name: str) -> None: ...
