"""Ingest: load -> chunk -> embed in batches -> upsert, one file at a time.

Streaming: files are read part by part and chunks flow through in fixed-size
batches, so memory stays flat however large the corpus. Chunk ids are content
addressed (file hash + chunk settings + position), which gives three
properties for free:
- re-ingesting an unchanged file embeds nothing and adds nothing;
- an ingest killed half way resumes where it stopped (written batches are skipped);
- a changed file, or the same file cut differently, replaces its old chunks.
A file that fails to load is rolled back and reported; the others still go in.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .chunking import chunk_documents
from .embedders import Embedder
from .errors import ExplorerError, LoaderError
from .health import check_space
from .loaders import load_bytes, load_path
from .stores.base import Collection
from .types import Chunk, ChunkSettings, Document, ProgressCallback, ProgressEvent, no_progress

# Texts per embed+upsert round: large enough for the embedder to sort by length
# and pad little, small enough that an interruption loses little work.
BATCH_SIZE = 256


@dataclass(frozen=True)
class Upload:
    """A file handed over as bytes (a browser upload) rather than a path."""

    name: str
    data: bytes


Source = Path | str | Upload


@dataclass(frozen=True)
class LoadOptions:
    """How to read tabular files, and a category for files that carry none."""

    text_field: str | None = None
    category_field: str | None = None
    metadata_fields: tuple[str, ...] = ()
    category: str | None = None


@dataclass
class IngestReport:
    files: int = 0
    chunks_added: int = 0
    chunks_skipped: int = 0
    chunks_removed: int = 0
    chunks_truncated: int = 0
    failures: list[LoaderError] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, other: IngestReport) -> None:
        """Add another run's counts to this one (several ingests shown as one)."""
        for name in ("files", "chunks_added", "chunks_skipped", "chunks_removed", "chunks_truncated", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failures += other.failures

    def summary(self) -> str:
        text = (f"{self.files} file(s): {self.chunks_added} chunks added, {self.chunks_skipped} already present, "
                f"{self.chunks_removed} stale removed in {self.seconds:.1f}s")
        if self.chunks_truncated:
            text += f"; {self.chunks_truncated} chunks longer than the model reads (their ends are ignored)"
        if self.failures:
            text += f"; {len(self.failures)} file(s) failed"
        return text


def _size(source: Source) -> int:
    if isinstance(source, Upload):
        return len(source.data)
    try:
        return Path(source).stat().st_size
    except OSError:
        return 0


def _name(source: Source) -> str:
    return source.name if isinstance(source, Upload) else Path(source).name


def _documents(source: Source, options: LoadOptions) -> Iterator[Document]:
    kwargs = dict(text_field=options.text_field, category_field=options.category_field,
                  metadata_fields=options.metadata_fields, category=options.category)
    if isinstance(source, Upload):
        return load_bytes(source.name, source.data, **kwargs)
    return load_path(Path(source), **kwargs)


def _batches(chunks: Iterable[Chunk], size: int) -> Iterator[list[Chunk]]:
    iterator = iter(chunks)
    while batch := list(islice(iterator, size)):
        yield batch


def ingest(
    sources: Sequence[Source],
    collection: Collection,
    embedder: Embedder,
    settings: ChunkSettings,
    options: LoadOptions = LoadOptions(),
    progress: ProgressCallback = no_progress,
    batch_size: int = BATCH_SIZE,
) -> IngestReport:
    """Ingest files into a collection; returns what happened, failures included."""
    if collection.embedder != embedder.info:
        raise ExplorerError(f"collection '{collection.name}' belongs to {collection.embedder.name}, "
                            f"not {embedder.name}")
    started = time.perf_counter()
    report = IngestReport()
    total = sum(_size(s) for s in sources) or None
    check_space(collection, total or 0, settings)  # refused before the first write, not by a full disk half way
    done_before = 0  # bytes of the files already finished, for the progress bar
    for source in sources:
        name = _name(source)
        progress(ProgressEvent("reading", done_before, total, name))
        try:
            _ingest_one(source, collection, embedder, settings, options, report, progress, batch_size,
                        done_before, total)
        except LoaderError as exc:
            report.failures.append(exc)
        else:
            report.files += 1
        done_before += _size(source)
    progress(ProgressEvent("keyword index", done_before, total))
    collection.sync_keyword_index()
    report.seconds = time.perf_counter() - started
    progress(ProgressEvent("done", done_before, total, report.summary()))
    return report


def _ingest_one(source: Source, collection: Collection, embedder: Embedder, settings: ChunkSettings,
                options: LoadOptions, report: IngestReport, progress: ProgressCallback, batch_size: int,
                done_before: int, total: int | None) -> None:
    count_tokens = embedder.count_tokens if settings.unit == "tokens" else None
    chunks = chunk_documents(_documents(source, options), settings, count_tokens=count_tokens)
    seen: dict[str, set[str]] = {}   # source -> chunk ids of this version of the file
    added: list[str] = []            # ids written by this run, to roll back if the file fails later
    position = 0                     # characters of the file behind us, for the progress bar
    try:
        for batch in _batches(chunks, batch_size):
            for chunk in batch:
                seen.setdefault(chunk.source, set()).add(chunk.id)
            present = collection.existing_ids([c.id for c in batch])
            fresh = [c for c in batch if c.id not in present]
            report.chunks_skipped += len(batch) - len(fresh)
            if fresh:
                texts = [c.text for c in fresh]
                report.chunks_truncated += sum(n > embedder.max_tokens for n in embedder.count_tokens(texts))
                collection.upsert(fresh, embedder.embed(texts))
                added += [c.id for c in fresh]
                report.chunks_added += len(fresh)
            # Spans of a text file run through the whole file; each CSV/JSONL row starts at 0.
            is_rows = "row" in batch[-1].metadata
            position = position + sum(len(c.text) for c in batch) if is_rows else batch[-1].end
            progress(ProgressEvent("embedding", done_before + min(position, _size(source)), total,
                                   batch[-1].source))
    except LoaderError:
        collection.delete_ids(added)
        raise
    if not seen:
        raise LoaderError(_name(source), "no text to ingest")
    for doc_source, keep in seen.items():
        report.chunks_removed += collection.delete_source(doc_source, keep_ids=sorted(keep))
