"""The small value types passed between the modules of `core`.

Data flows one way: file -> loader (Document) -> chunker (Chunk) -> embedder
-> store; a query -> store / keyword index -> fusion (SearchResult) -> page or RAG.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Literal

# Metadata values must be scalars: every store (Chroma, PostgreSQL) can keep them.
MetaValue = str | int | float | bool
Metadata = dict[str, MetaValue]


def content_hash(*parts: str | bytes) -> str:
    """sha256 over the parts, each length-prefixed so ("ab", "c") != ("a", "bc")."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


@dataclass(frozen=True)
class Document:
    """Text of one source file, or one part of it for files too large to hold at once.

    `source` is the document's identity: a local file's resolved absolute path, an
    upload's name under its folder label;
    a CSV / JSONL row is its file's source plus metadata["row"]. `content_hash` only
    says whether the document changed: the hash of the whole file's bytes (every
    part of one file shares it), or of the row. `offset` is where this part's text
    starts in the whole document, so chunk spans stay relative to the file.
    """

    text: str
    source: str
    content_hash: str
    metadata: Metadata = field(default_factory=dict)
    offset: int = 0


@dataclass(frozen=True)
class ChunkSettings:
    """How to cut documents. `size` and `overlap` are counted in `unit`."""

    method: Literal["fixed", "paragraph", "sliding", "recursive"] = "recursive"
    size: int = 200
    overlap: int = 0
    unit: Literal["chars", "words", "tokens"] = "tokens"

    def key(self) -> str:
        return f"{self.method}-{self.size}-{self.overlap}-{self.unit}"


@dataclass(frozen=True)
class Chunk:
    """A piece of a document: its text, where it came from and where it sits.

    `start`/`end` are character offsets in the whole source document, so
    `document_text[start:end] == text`; `index` is its position among the
    document's chunks. `id` names the document (its source) as it is now (content,
    metadata, settings) and the position: the same document cut the same way
    yields the same ids, which is what makes re-ingesting it add nothing, while
    another document with the same text gets ids of its own.
    """

    id: str
    text: str
    source: str
    start: int
    end: int
    index: int
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class EmbedderInfo:
    """What a collection remembers about the model that filled it."""

    name: str
    dimension: int


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    embedder: EmbedderInfo
    count: int


@dataclass(frozen=True)
class SourceInfo:
    """One source (a file, an upload, a table) with a category, and how many chunks it has with it."""

    source: str
    category: str
    chunks: int


@dataclass(frozen=True)
class DocumentCount:
    """One document (a source, and a row of it for CSV / JSONL files: "" otherwise) with a category, and how
    many chunks it has with it: what listing a collection's documents and its pickers' choices needs, without
    reading every chunk's text."""

    source: str
    row: str
    category: str
    chunks: int


@dataclass(frozen=True)
class Filter:
    """Restricts a search to some categories and/or sources (None = no restriction).

    Applied by the store before similarity, so k results come back from the
    allowed set rather than k results being filtered down afterwards.
    """

    categories: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None

    def is_empty(self) -> bool:
        return not self.categories and not self.sources


@dataclass(frozen=True)
class Hit:
    """One chunk returned by one retriever (vector kNN or keyword), 1-based rank."""

    id: str
    text: str
    metadata: Metadata
    score: float
    rank: int


@dataclass(frozen=True)
class ProgressEvent:
    """Reported by long work (ingest, projection) to a CLI bar or a Streamlit bar."""

    stage: str
    done: int
    total: int | None = None
    detail: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


def no_progress(_: ProgressEvent) -> None:
    return None
