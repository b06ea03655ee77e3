"""The Store Protocol every backend implements (Chroma embedded, Chroma server, pgvector)."""
from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from contextlib import contextmanager
from collections import Counter
from typing import ContextManager, Iterable, Iterator, Protocol, Sequence

import numpy as np

from ..errors import CollectionNotFound, EmbedderMismatch, ExplorerError
from ..types import (Chunk, CollectionInfo, DocumentCount, EmbedderInfo, Filter, Hit, Metadata, ProgressCallback,
                     ProgressEvent, SourceInfo, no_progress)

# Rows per page when a whole collection is streamed (copy, export): about 1.5 MB
# of 384-dimensional vectors, far below any server's request limit.
PAGE_SIZE = 1000
# Whole-collection reads (a map's points, the document list) page bigger: at a million rows each of Chroma's
# offset pages costs about as much as its size, so 10,000 per page read 2.5x faster than 2,000.
READ_ALL_PAGE = 10_000
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


def count_documents(pages: Iterable[StoredChunks], total: int,
                    progress: ProgressCallback = no_progress) -> list[DocumentCount]:
    """`Collection.document_counts` from the chunks' metadata, read a page at a time (stores that read it row by
    row: half a minute at a million chunks in Chroma), with progress after each page."""
    counts: Counter[tuple[str, str, str]] = Counter()
    read = 0
    for page in pages:
        counts.update((str(m.get("source", "")), str(m.get("row", "")), str(m.get("category", "")))
                      for m in page.metadatas)
        read += len(page.ids)
        progress(ProgressEvent("reading every chunk's metadata", min(read, total), total))
    return [DocumentCount(source, row, category, n) for (source, row, category), n in sorted(counts.items())]


def sources_of(documents: Iterable[DocumentCount]) -> list[SourceInfo]:
    """`Collection.sources` from its document counts: chunks per (source, category), sorted."""
    counts: Counter[tuple[str, str]] = Counter()
    for d in documents:
        counts[d.source, d.category] += d.chunks
    return [SourceInfo(source=s, category=c, chunks=n) for (s, c), n in sorted(counts.items())]


@dataclass(frozen=True)
class Pending:
    """A many-write operation begun on a collection and not finished yet, recorded in the collection
    itself (Chroma: its metadata; pgvector: its registry row) before the first write and cleared after
    the last. Whoever finds one whose process is gone knows the collection is incomplete.

    `what` is "import", "ingest" or "copy" (`detail`: what was being written; running it again
    completes it), "move" (an older collection's chunks to current ids: any next write completes it), or "repair-build" / "repair-ready" on the fresh collection a repair fills
    (`detail`: the collection it will replace; "ready" once it is whole and may be swapped in)."""

    what: str
    detail: str
    pid: int
    host: str

    @classmethod
    def mine(cls, what: str, detail: str) -> Pending:
        return cls(what, detail, os.getpid(), socket.gethostname())

    def encode(self) -> str:
        return json.dumps([self.what, self.detail, self.pid, self.host])

    @classmethod
    def decode(cls, text: str | None) -> Pending | None:
        try:
            what, detail, pid, host = json.loads(text or "")
            return cls(str(what), str(detail), int(pid), str(host))
        except (ValueError, TypeError):
            return None

    def alive(self) -> bool:
        """Whether the process doing it still runs (one on another machine is taken to)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's process by that number
            return True
        return True

    def describe(self) -> str:
        what = {"import": "an import of", "ingest": "an ingest of", "copy": "a copy from",
                "move": "a move"}.get(self.what, self.what)
        return f"{what} {self.detail}"


@dataclass(frozen=True)
class StoredChunks:
    """Everything a map or a copy needs from a collection, row-aligned."""

    # Lists when read from a store; a map's cached points hold them as columns read in place (core.columns).
    ids: Sequence[str]
    texts: Sequence[str]
    metadatas: Sequence[Metadata]
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

    def document_counts(self, progress: ProgressCallback = no_progress) -> list[DocumentCount]:
        """Every (source, row, category) the chunks carry, with its chunk count, sorted: one read of the
        metadata (or one query) that the document list, the sources and the categories all come from."""
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

    def pending(self) -> Pending | None:
        """The many-write operation begun and not finished on this collection, if any."""
        ...

    def set_pending(self, pending: Pending | None) -> None:
        """Record the operation under way; a write of its own. None clears it and records the rows as
        they are now as the expected count (the operation completed; or a repair accepts what is left)."""
        ...

    def expected_rows(self) -> int | None:
        """The row count the last completed write left, recorded with that write (None: not recorded).
        A count below it means rows were lost since."""
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

    def replace_collection(self, spare: str, name: str) -> None:
        """Collection `spare` takes the place of `name` (whose rows go) and its pending mark is cleared.
        At every moment one of them is whole under its name: pgvector swaps in one transaction; Chroma
        deletes `name`, then renames `spare`, and `settle_interrupted` finishes a swap stopped between."""
        ...

    def pending_marks(self) -> dict[str, str]:
        """Every collection with a pending mark, and the mark as recorded (cheap: no collection is opened)."""
        ...


@contextmanager
def operation(collection: Collection, what: str, detail: str) -> Iterator[None]:
    """Mark `collection` as being written by this operation until the block completes: a kill or an
    error half way leaves the mark, so `check` calls the collection incomplete until the same
    operation is run again to the end. Another operation's unfinished mark outlives this one."""
    earlier = collection.pending()
    collection.set_pending(Pending.mine(what, detail))
    yield
    unfinished = earlier is not None and not earlier.alive() and (earlier.what, earlier.detail) != (what, detail)
    collection.set_pending(earlier if unfinished else None)


def settle_interrupted(store: Store) -> list[str]:
    """Finish or undo what a killed repair left (run whenever a store of ours is opened): a fresh
    collection still being filled is deleted (its original was never touched); one that was whole is
    swapped in (its original may be gone already). Returns what was done, in words."""
    done = []
    for name, mark in store.pending_marks().items():
        pending = Pending.decode(mark)
        if pending is None or pending.alive() or pending.what not in ("repair-build", "repair-ready"):
            continue
        try:
            if pending.what == "repair-build":
                store.delete_collection(name)
                done.append(f"removed '{name}', an unfinished repair of '{pending.detail}'")
            else:
                store.replace_collection(name, pending.detail)
                done.append(f"finished swapping the repaired '{pending.detail}' in")
        except CollectionNotFound:  # another process opening the store settled it first
            continue
    return done
