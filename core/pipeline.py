"""Ingest: load -> chunk -> embed in batches -> upsert, one file at a time.

Streaming: files are read part by part and chunks flow through in fixed-size
batches, so memory stays flat however large the corpus.

Identity is not content. A document is its source (a local file's resolved absolute
path, however it was reached: a folder, a parent folder, a symlink, the file alone; an
upload's name under its folder label; a row of a CSV / JSONL file is its file plus the
row id). A chunk's
id names that document as it is now (content, metadata, settings) and the chunk's
position, and a vector belongs to a text, not to a document (core.embedding_cache).
So:
- re-ingesting an unchanged file embeds nothing and adds nothing;
- an ingest killed half way resumes where it stopped (written batches are skipped);
- re-ingesting a source replaces that source's chunks and nothing else: a changed
  file re-embeds only the chunks whose text changed, a new category re-embeds nothing;
- identical files under two names are two documents, each with its own metadata,
  embedded once;
- two folders never replace each other's files; a file gone from a folder ingested
  again is reported, and removed only when asked (`prune`).
A file that fails to load is rolled back and reported; the others still go in.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .chunking import chunk_documents
from .embedders import Embedder
from .embedding_cache import EmbeddingCache, text_hash
from .errors import ExplorerError, LoaderError
from .health import check_space
from .identity import (FormerChunks, carry_second_scheme, move_to_current_scheme, settle_first_scheme,
                       settle_second_scheme)
from .loaders import SUPPORTED_EXTENSIONS, load_bytes, load_path, local_source, upload_source
from .stores.base import Collection, operation
from .types import Chunk, ChunkSettings, Document, ProgressCallback, ProgressEvent, no_progress

# Texts per embed+upsert round: large enough for the embedder to sort by length
# and pad little, small enough that an interruption loses little work.
BATCH_SIZE = 256


@dataclass(frozen=True)
class Upload:
    """A file handed over as bytes (a browser upload) rather than a path, known by its
    name under an optional folder label (two uploads called notes.txt can be kept apart)."""

    name: str
    data: bytes
    folder: str | None = None

    @property
    def source(self) -> str:
        return upload_source(self.name, self.folder)


@dataclass(frozen=True)
class LocalFile:
    """A file on this machine, the source it is known by (its resolved absolute path), and, when
    found in a folder, that folder (resolved) and the file's path under it: the name the second
    id scheme knew it by, and the one a report shows."""

    path: Path
    source: str
    folder: str | None = None
    relative: str | None = None

    @classmethod
    def at(cls, path: str | Path) -> LocalFile:
        return cls(Path(os.path.abspath(path)), local_source(path))

    @property
    def name(self) -> str:
        """How a list of files to ingest shows it: its path under its folder, else its file name."""
        return self.relative or self.path.name


# A bare path is a file given alone: it is known by its full path.
Source = Path | str | Upload | LocalFile


def source_name(source: Source) -> str:
    """The identity of the document(s) a source holds."""
    if isinstance(source, (Upload, LocalFile)):
        return source.source
    return local_source(source)


def local_files(paths: Sequence[str | Path]) -> list[LocalFile]:
    """Files and folders as given on a command line, as the files to ingest: a folder becomes
    the supported files under it. Every file is known by its resolved absolute path, so
    projA/README.md and projB/README.md are two documents, and a file reached twice (a folder and
    its subfolder, a symlink, the file alone) is listed once. A folder with no supported file in it
    is an error that says so."""
    files: list[LocalFile] = []
    for raw in paths:
        path = Path(os.path.abspath(raw))  # read where it is now, whatever the working folder is by then
        if not path.is_dir():
            files.append(LocalFile.at(path))
            continue
        # is_file() is true for regular files only: FIFOs, sockets and devices in the folder are passed over.
        found = sorted(f for f in path.rglob("*") if f.is_file())
        supported = [f for f in found if f.suffix.lower() in SUPPORTED_EXTENSIONS]
        if not supported:
            held = f"holds {len(found)} file(s), none of a supported type" if found else "is empty"
            raise ExplorerError(f"{raw}: the folder {held} (supported: {', '.join(SUPPORTED_EXTENSIONS)})")
        folder = local_source(path)
        files += [LocalFile(f, local_source(f), folder, f.relative_to(path).as_posix()) for f in supported]
    return list({f.source: f for f in reversed(files)}.values())[::-1]  # the first of each file, in order


@dataclass(frozen=True)
class LoadOptions:
    """How to read tabular files, and a category for files that carry none."""

    text_field: str | None = None
    category_field: str | None = None
    metadata_fields: tuple[str, ...] = ()
    category: str | None = None
    id_field: str | None = None


@dataclass
class IngestReport:
    files: int = 0
    chunks_added: int = 0
    chunks_embedded: int = 0  # of those added, how many the model embedded (the rest came from the cache)
    chunks_skipped: int = 0
    chunks_removed: int = 0
    chunks_truncated: int = 0
    chunks_migrated: int = 0
    failures: list[LoaderError] = field(default_factory=list)
    seconds: float = 0.0
    gone: list[str] = field(default_factory=list)  # sources of files no longer in a folder ingested again
    pruned: bool = False                            # ...and removed (asked for), or still held
    folders: list[str] = field(default_factory=list)  # the folders ingested (resolved): gone files are shown under them
    kept_names: str = ""  # documents the move to the current ids could only keep under their old names, in words

    def merge(self, other: IngestReport) -> None:
        """Add another run's counts to this one (several ingests shown as one)."""
        for name in ("files", "chunks_added", "chunks_embedded", "chunks_skipped", "chunks_removed",
                     "chunks_truncated", "chunks_migrated", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failures += other.failures
        self.gone += other.gone
        self.folders += other.folders
        self.pruned = self.pruned or other.pruned
        self.kept_names = "; ".join(filter(None, (self.kept_names, other.kept_names)))

    def summary(self) -> str:
        reused = self.chunks_added - self.chunks_embedded
        text = (f"{self.files} file(s): {self.chunks_added} chunks added"
                + (f" ({reused} with vectors already computed, {self.chunks_embedded} embedded)" if reused else "")
                + f", {self.chunks_skipped} already present, {self.chunks_removed} stale removed "
                  f"in {self.seconds:.1f}s")
        if self.chunks_migrated:
            text += f"; {self.chunks_migrated} chunks moved to ids by source first (nothing re-embedded)"
        if self.kept_names:
            text += f"; {self.kept_names}"
        if self.chunks_truncated:
            text += f"; {self.chunks_truncated} chunks longer than the model reads (their ends are ignored)"
        if self.failures:
            text += f"; {len(self.failures)} file(s) failed"
        if self.gone:
            names = ", ".join(self._under_folder(gone) for gone in self.gone)
            text += (f"; {len(self.gone)} file(s) no longer in the folder removed: {names}" if self.pruned else
                     f"; {len(self.gone)} file(s) no longer in the folder, still held (prune to remove them: "
                     f"--prune, or the app's checkbox): {names}")
        return text

    def _under_folder(self, source: str) -> str:
        """A gone file as its path under the folder it was found in (never the full server path)."""
        folder = max((f for f in self.folders if source.startswith(os.path.join(f, ""))), key=len, default=None)
        return os.path.relpath(source, folder) if folder else os.path.basename(source)


def _size(source: Source) -> int:
    if isinstance(source, Upload):
        return len(source.data)
    try:
        return os.stat(source.path if isinstance(source, LocalFile) else source).st_size
    except OSError:
        return 0


def _documents(source: Source, options: LoadOptions) -> Iterator[Document]:
    kwargs = dict(text_field=options.text_field, category_field=options.category_field,
                  metadata_fields=options.metadata_fields, category=options.category, id_field=options.id_field)
    if isinstance(source, Upload):
        return load_bytes(source.name, source.data, folder=source.folder, **kwargs)
    path = source.path if isinstance(source, LocalFile) else Path(source)
    return load_path(path, source=source_name(source), **kwargs)


def distinct_sources(sources: Sequence[Source]) -> list[Source]:
    """Each document once: a file reached twice (./docs and docs/, a folder and its subfolder, a
    symlink) is ingested once. Two uploads that would be one document (the same name under the same
    folder label) are refused, naming both, before anything is written: neither is lost to the other."""
    kept: dict[str, Source] = {}
    for source in sources:
        name = source_name(source)
        first = kept.get(name)
        if first is None:
            kept[name] = source
        elif isinstance(source, Upload) or isinstance(first, Upload):
            raise ExplorerError(
                f"two files in this upload would both be the document '{name}': '{_given_name(first)}' and "
                f"'{_given_name(source)}'; upload them under different folder labels, or one at a time")
    return list(kept.values())


def _given_name(source: Source) -> str:
    return source.name if isinstance(source, Upload) else str(source.path if isinstance(source, LocalFile) else source)


def _former_names(source: Source) -> list[str]:
    """The name the second id scheme knew a file found in a folder by (its path under the folder); the
    move to the current ids resolved every other name already."""
    return [source.relative] if isinstance(source, LocalFile) and source.relative else []


def gone_from_folders(collection: Collection, folders: Iterable[str], present: set[str]) -> list[str]:
    """Sources held under the folders (resolved) that this ingest did not find there: deleted or
    renamed files."""
    prefixes = tuple(os.path.join(f, "") for f in set(folders))
    if not prefixes:
        return []
    return sorted({s.source for s in collection.sources()
                   if s.source.startswith(prefixes) and s.source not in present})


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
    cache: EmbeddingCache | None = None,
    prune: bool = False,
) -> IngestReport:
    """Ingest files into a collection; returns what happened, failures included.
    `cache` holds the vectors already computed (default: data/cache/embeddings.sqlite).
    Files held from a folder ingested again that are no longer in it are reported (`gone`), and
    deleted only with `prune`."""
    if collection.embedder != embedder.info:
        raise ExplorerError(f"collection '{collection.name}' belongs to {collection.embedder.name}, "
                            f"not {embedder.name}")
    sources = distinct_sources(sources)
    started = time.perf_counter()
    cache = cache or EmbeddingCache.default()
    moved = move_to_current_scheme(collection, cache, progress)
    report = IngestReport(chunks_migrated=moved.chunks, kept_names=moved.kept_note())
    total = sum(_size(s) for s in sources) or None
    check_space(collection, total or 0, settings)  # refused before the first write, not by a full disk half way
    done_before = 0  # bytes of the files already finished, for the progress bar
    names = [source_name(s) for s in sources]
    # Marked until the last file is in: a kill half way leaves a collection `check` calls incomplete.
    with operation(collection, "ingest", ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")):
        for source in sources:
            progress(ProgressEvent("reading", done_before, total, source_name(source)))
            former = carry_second_scheme(collection, cache, _former_names(source))
            try:
                _ingest_one(source, collection, embedder, cache, settings, options, report, progress, batch_size,
                            done_before, total, former)
            except LoaderError as exc:
                report.failures.append(exc)
            else:
                report.files += 1
            done_before += _size(source)
        report.folders = sorted({s.folder for s in sources if isinstance(s, LocalFile) and s.folder})
        report.gone = gone_from_folders(collection, report.folders, set(names))
        if prune:
            report.chunks_removed += sum(collection.delete_source(gone) for gone in report.gone)
            report.pruned = bool(report.gone)
        progress(ProgressEvent("keyword index", done_before, total))
        collection.sync_keyword_index()
    report.seconds = time.perf_counter() - started
    progress(ProgressEvent("done", done_before, total, report.summary()))
    return report


def _ingest_one(source: Source, collection: Collection, embedder: Embedder, cache: EmbeddingCache,
                settings: ChunkSettings, options: LoadOptions, report: IngestReport, progress: ProgressCallback,
                batch_size: int, done_before: int, total: int | None, former: FormerChunks) -> None:
    count_tokens = embedder.count_tokens if settings.unit == "tokens" else None
    chunks = chunk_documents(_documents(source, options), settings, count_tokens=count_tokens)
    seen: dict[str, set[str]] = {}   # source -> chunk ids of this version of the document
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
                report.chunks_truncated += sum(n > embedder.max_tokens
                                               for n in embedder.count_tokens([c.text for c in fresh]))
                collection.upsert(fresh, _vectors(fresh, embedder, cache, report))
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
        raise LoaderError(source_name(source), "no text to ingest")
    for doc_source, keep in seen.items():
        report.chunks_removed += collection.delete_source(doc_source, keep_ids=sorted(keep))
        report.chunks_removed += settle_first_scheme(collection, doc_source)
        report.chunks_migrated += settle_second_scheme(collection, doc_source, former)


def _vectors(chunks: Sequence[Chunk], embedder: Embedder, cache: EmbeddingCache, report: IngestReport) -> np.ndarray:
    """The chunks' vectors: from the cache where their text was embedded before, else embedded
    now (each distinct text once) and kept in the cache."""
    keys = [text_hash(c.text) for c in chunks]
    known = cache.get(embedder.info, keys)
    missing = {key: chunk.text for key, chunk in zip(keys, chunks) if key not in known}
    if missing:
        vectors = embedder.embed(list(missing.values()))
        report.chunks_embedded += len(missing)
        cache.put(embedder.info, list(missing), vectors)
        known.update(zip(missing, vectors))
    return np.stack([known[key] for key in keys]).astype(np.float32, copy=False)
