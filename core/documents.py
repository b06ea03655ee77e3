"""Documents as a user sees them: a file, an upload, or one row of a CSV / JSONL file.

A chunk's document is its source plus its row id, if it has one (`DocumentKey`). A local
file's source is its resolved absolute path: lists and headings show it relative to the
folder all of a collection's files share (`shown_sources`), so a shared app never shows
where files sit on the server, and a row is shown as `file › row id`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Mapping

from .identity import move_to_current_scheme
from .stores.base import Collection
from .types import Filter, Metadata, ProgressCallback, no_progress

ROW_MARK = " › "


@dataclass(frozen=True, order=True)
class DocumentKey:
    """What a chunk belongs to: a source, and a row of it for CSV / JSONL files ("" otherwise)."""

    source: str
    row: str = ""

    @classmethod
    def of(cls, metadata: Metadata) -> DocumentKey:
        return cls(str(metadata.get("source", "")), str(metadata.get("row", "")))


@dataclass(frozen=True)
class DocumentInfo:
    key: DocumentKey
    category: str
    chunks: int


def shown_sources(sources: Iterable[str]) -> dict[str, str]:
    """How each source is shown: a local file relative to the folder all the local files share
    (a lone file by its name), an upload as it is (its folder label and name)."""
    sources = list(dict.fromkeys(sources))
    local = [s for s in sources if os.path.isabs(s)]
    common = os.path.commonpath([os.path.dirname(s) for s in local]) if local else ""
    return {s: os.path.relpath(s, common) if s in local else s for s in sources}


def label(key: DocumentKey, shown: Mapping[str, str]) -> str:
    """`file › row id` for a row, the shown file name otherwise."""
    name = shown.get(key.source, key.source)
    return f"{name}{ROW_MARK}{key.row}" if key.row else name


def list_documents(collection: Collection, progress: ProgressCallback = no_progress) -> list[DocumentInfo]:
    """Every document of a collection, with its category (the first, should its chunks carry several) and chunk
    count, in source then row order."""
    chunks: dict[DocumentKey, int] = {}
    categories: dict[DocumentKey, str] = {}
    for counted in collection.document_counts(progress):
        key = DocumentKey(counted.source, counted.row)
        chunks[key] = chunks.get(key, 0) + counted.chunks
        categories.setdefault(key, counted.category)
    return [DocumentInfo(key, categories[key], chunks[key]) for key in sorted(chunks)]


def delete_document(collection: Collection, key: DocumentKey) -> int:
    """Delete one document's chunks (a whole file when the key names no row); returns how many went.
    A collection of an earlier id scheme moves to the current one first (the key as listed before)."""
    source = move_to_current_scheme(collection).renamed.get(key.source, key.source)
    if not key.row:
        return collection.delete_source(source)
    rows = collection.get(where=Filter(sources=(source,)))
    doomed = [i for i, m in zip(rows.ids, rows.metadatas) if str((m or {}).get("row", "")) == key.row]
    collection.delete_ids(doomed)
    return len(doomed)
