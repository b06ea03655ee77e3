"""Is a collection whole, can it be made whole again, and will the disk hold the next ingest?

`check_collection` works through the Collection protocol only, so it judges every
store the same way: ids unique; every stored row has its text, metadata and a
usable vector; the count agrees with the rows; a sample of stored vectors finds
its own chunk by vector search, and a sample of texts finds its own chunk by
keyword search (a vector or keyword index out of step with the documents fails
one of these). A store that can look deeper (`check()` on the collection) adds
its own findings.

`repair_collection` rebuilds what the check found broken from what the store
still holds: the keyword index in place, the vector index by copying every row
into a fresh collection (stored vectors where they are still readable, the text
re-embedded where not) and swapping it in under the original name.

`check_space` estimates what an ingest will write to a local store folder and
refuses before the first write when the disk cannot hold it, because a write
that runs out of space half way leaves a store that may not reopen.
"""
from __future__ import annotations

import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Literal

import numpy as np

from .embedders import EMBEDDERS, get_embedder
from .errors import CollectionDamaged, ExplorerError, StoreDamaged, describe
from .identity import move_to_current_scheme
from .keyword import Analyzer, BM25Settings
from .stores import open_store
from .stores.base import Collection, Pending, Store, StoredChunks
from .stores.transfer import page_chunks
from .types import ChunkSettings, EmbedderInfo, ProgressCallback, ProgressEvent, no_progress

Kind = Literal["vector", "keyword", "data", "incomplete"]
SAMPLE = 32          # chunks looked up by their own vector and by their own text
NEIGHBOURS = 10      # how deep a sampled chunk may sit in its own vector lookup
KEYWORD_DEPTH = 1000  # how deep its keyword lookup reads
SAME_VECTOR = 1e-4   # a hit this close to cosine 1 is an identical vector (a duplicate text), not a miss
REPAIR_SUFFIX = "-repair"  # the fresh collection a vector repair fills before it is swapped in


@dataclass(frozen=True)
class Problem:
    """What is wrong, and which part `repair` must rebuild for it ("data": text, metadata or rows lost,
    which no rebuild brings back; "incomplete": an import, ingest or copy stopped half way, which
    running it again completes)."""

    kind: Kind
    message: str


@dataclass(frozen=True)
class Health:
    collection: str
    chunks: int | None  # None when the collection cannot even be counted
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()  # true of the data but not damage: gaps in another program's rows

    @property
    def healthy(self) -> bool:
        return not self.problems

    def needs(self, kind: Kind) -> bool:
        return any(p.kind == kind for p in self.problems)


def _evenly(count: int, size: int) -> set[int]:
    """Up to `size` row positions spread over `count` rows, first and last included."""
    if count <= size:
        return set(range(count))
    return {round(i * (count - 1) / (size - 1)) for i in range(size)}


@dataclass
class _Scan:
    """What one pass over the stored rows found."""

    rows: int = 0
    ids: set[str] = field(default_factory=set)
    duplicates: list[str] = field(default_factory=list)
    no_text: int = 0
    no_metadata: int = 0
    bad_vectors: int = 0
    sample: list[tuple[str, str, np.ndarray]] = field(default_factory=list)  # id, text, vector


def _scan(pages: Iterator[StoredChunks], count: int, dimension: int) -> _Scan:
    scan = _Scan()
    seen = scan.ids
    picked = _evenly(count, SAMPLE)
    for page in pages:
        assert page.embeddings is not None
        for i, (chunk_id, text, metadata) in enumerate(zip(page.ids, page.texts, page.metadatas)):
            vector = page.embeddings[i]
            if chunk_id in seen:
                scan.duplicates.append(chunk_id)
            seen.add(chunk_id)
            scan.no_text += not isinstance(text, str) or not text.strip()
            scan.no_metadata += not isinstance(metadata, dict) or not metadata.get("source")
            usable = vector.shape == (dimension,) and bool(np.isfinite(vector).all()) and bool(np.any(vector))
            scan.bad_vectors += not usable
            if scan.rows in picked and usable and isinstance(text, str):
                scan.sample.append((chunk_id, text, vector))
            scan.rows += 1
    return scan


@dataclass
class _Lookups:
    """Sampled chunks looked up in one index: how many were tried, how many did not come back,
    and ids the index returned that the collection does not hold (rows deleted behind its back)."""

    tried: int = 0
    misses: int = 0
    strangers: set[str] = field(default_factory=set)


def _vector_lookups(collection: Collection, scan: _Scan) -> _Lookups:
    out = _Lookups()
    for chunk_id, _, vector in scan.sample:
        hits = collection.vector_search(vector, NEIGHBOURS)
        out.tried += 1
        out.misses += not (any(h.id == chunk_id for h in hits) or bool(hits and hits[0].score >= 1 - SAME_VECTOR))
        out.strangers.update(h.id for h in hits if h.id not in scan.ids)
    return out


def _keyword_lookups(collection: Collection, scan: _Scan) -> _Lookups:
    """A chunk's own text as the query should bring the chunk back, however far down: ranking is the
    store's business (a short chunk of common words may rank low), holding every row is the index's."""
    analyzer = Analyzer(BM25Settings())
    out = _Lookups()
    depth = max(NEIGHBOURS, min(scan.rows, KEYWORD_DEPTH))
    for chunk_id, text, _ in scan.sample:
        if not analyzer.terms(text):  # only stopwords or punctuation: nothing a keyword search can find
            continue
        hits = collection.keyword_search(text, depth)
        out.tried += 1
        out.misses += not any(h.id == chunk_id or h.text == text for h in hits)  # or a copy of its text
        out.strangers.update(h.id for h in hits if h.id not in scan.ids)
    return out


def _lookup_problems(kind: Kind, found: _Lookups, how: str) -> list[Problem]:
    problems = []
    if found.misses:
        problems.append(Problem(kind, f"{found.misses} of {found.tried} sampled chunks are not found by their own "
                                      f"{how}: the {kind} index is out of step with the rows"))
    if found.strangers:
        problems.append(Problem(kind, f"the {kind} index returns {len(found.strangers)} chunk(s) the collection "
                                      f"does not hold, e.g. {min(found.strangers)}"))
    return problems


def check_collection(collection: Collection) -> Health:
    """Everything wrong with one open collection (an empty tuple of problems: healthy)."""
    problems: list[Problem] = []
    try:
        count = collection.count()
        collection.version()
    except Exception as exc:  # a damaged store fails in its own words; say which collection and go on
        return Health(collection.name, None, (Problem("vector", f"cannot be read ({describe(exc)})"),))
    notes: tuple[str, ...] = ()
    try:
        pending, expected = collection.pending(), collection.expected_rows()
    except Exception as exc:
        return Health(collection.name, count, (Problem("vector", f"cannot be read ({describe(exc)})"),))
    if pending is not None and pending.alive():
        notes += (f"{pending.describe()} is under way (process {pending.pid})",)
    elif pending is not None:
        problems.append(Problem("incomplete", f"incomplete: {pending.describe()} was interrupted ({count:,} rows "
                                              "now); run the same command again to complete it"))
    elif expected is not None and expected != count:
        problems.append(Problem("data", f"holds {count:,} rows, but its last completed write left {expected:,}: "
                                        "rows were lost (or added) outside a complete write"))
    try:
        scan = _scan(collection.iter_pages(include_embeddings=True), count, collection.embedder.dimension)
    except Exception as exc:
        return Health(collection.name, count, (Problem("vector", f"its rows cannot be read ({describe(exc)})"),))
    if scan.rows != count:
        problems.append(Problem("vector", f"counts {count} chunks but {scan.rows} rows can be read"))
    if scan.duplicates:
        problems.append(Problem("vector", f"{len(scan.duplicates)} chunk id(s) stored twice, e.g. "
                                          f"{scan.duplicates[0]}"))
    gaps = [message for n, message in ((scan.no_text, f"{scan.no_text} chunk(s) have no text"),
                                       (scan.no_metadata, f"{scan.no_metadata} chunk(s) have no source in their "
                                                          "metadata")) if n]
    # In our own collections every chunk is stored with its text and source, so a gap is data lost;
    # another program may simply not store them, and its rows read as empty.
    if collection.read_only:
        notes += tuple(f"{gap} (made by another program: read as empty)" for gap in gaps)
    else:
        problems += [Problem("data", gap) for gap in gaps]
    if scan.bad_vectors:
        problems.append(Problem("vector", f"{scan.bad_vectors} chunk(s) have no usable vector "
                                          f"({collection.embedder.dimension} finite numbers, not all 0)"))
    try:
        problems += _lookup_problems("vector", _vector_lookups(collection, scan), "vector")
    except Exception as exc:
        problems.append(Problem("vector", f"vector search fails ({describe(exc)})"))
    try:
        problems += _lookup_problems("keyword", _keyword_lookups(collection, scan), "text")
    except Exception as exc:
        problems.append(Problem("keyword", f"keyword search fails ({describe(exc)})"))
    store_check = getattr(collection, "check", None)  # a store that can look deeper says what it sees
    if callable(store_check):
        try:
            # The store names the part it finds wrong in words; "keyword index" is the one repaired apart.
            problems += [Problem("keyword" if message.startswith("the keyword index") else "vector", message)
                         for message in store_check()]
        except Exception as exc:
            problems.append(Problem("vector", f"the store's own check fails ({describe(exc)})"))
    return Health(collection.name, count, tuple(problems), notes)


def open_existing(store: Store, name: str) -> Collection:
    """An existing collection with the model that made it (CollectionNotFound when there is none)."""
    return store.open_collection(name, store.collection_embedder(name), create=False)


def collection_names(store: Store, only: str | None = None) -> list[str]:
    if only is not None:
        store.collection_embedder(only)  # CollectionNotFound, with the store's own message
        return [only]
    try:
        return [info.name for info in store.list_collections()]
    except ExplorerError as exc:
        if not isinstance(exc, StoreDamaged):
            raise
        return _names_despite(store, exc)
    except Exception as exc:  # listing counts every collection, so one damaged collection fails it
        return _names_despite(store, exc)


def _names_despite(store: Store, exc: BaseException) -> list[str]:
    """The collections of a store whose listing failed: from a Chroma folder's catalog, read-only."""
    names = _chroma_folder_names(store)
    if names is None and isinstance(exc, ExplorerError):  # already says what is wrong (a lost catalog)
        raise exc
    if names is None:
        raise CollectionDamaged(f"the collections of {store.url} cannot be listed ({describe(exc)})") from exc
    return names


def _chroma_database(store: Store) -> Path | None:
    database = Path(store.url) / "chroma.sqlite3"
    return database if "://" not in store.url and database.is_file() else None


def _chroma_folder_names(store: Store) -> list[str] | None:
    """The collection names of a Chroma folder read from its database (read-only), for when
    chromadb cannot list them; None for any other store."""
    database = _chroma_database(store)
    if database is None:
        return None
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return sorted(name for (name,) in db.execute("SELECT name FROM collections"))


def check_store(store: Store, only: str | None = None) -> list[Health]:
    """`check_collection` for every collection of the store (or just `only`)."""
    out = []
    for name in collection_names(store, only):
        try:
            collection = open_existing(store, name)
        except ExplorerError as exc:
            if not isinstance(exc, StoreDamaged):
                raise
            out.append(Health(name, None, (Problem("vector", f"cannot be opened ({exc})"),)))
            continue
        except Exception as exc:
            out.append(Health(name, None, (Problem("vector", f"cannot be opened ({describe(exc)})"),)))
            continue
        out.append(check_collection(collection))
    return out


# -- repair ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RepairReport:
    collection: str
    keyword_rebuilt: bool
    vectors_rebuilt: int       # rows written into the fresh collection (0: the vector index was kept)
    re_embedded: int           # of those, rows whose stored vector could not be read
    after: Health
    rows_accepted: tuple[int, int] | None = None  # (rows expected, rows there) when rows had been lost or added

    def summary(self) -> str:
        done = []
        if self.vectors_rebuilt:
            done.append(f"vector index rebuilt from {self.vectors_rebuilt} rows ({self.re_embedded} re-embedded)")
        if self.keyword_rebuilt:
            done.append("keyword index rebuilt")
        if self.rows_accepted:
            expected, there = self.rows_accepted
            done.append(f"{there:,} rows kept where {expected:,} were expected (rows lost outside a complete "
                        "write cannot be rebuilt: restore them from a backup or ingest them again)")
        state = "healthy" if self.after.healthy else "still unhealthy: " + "; ".join(
            p.message for p in self.after.problems)
        return f"{self.collection}: {', '.join(done) or 'nothing to rebuild'}; now {state}"


def _readable_pages(collection: Collection, embed: Callable[[list[str]], np.ndarray]
                    ) -> Iterator[tuple[StoredChunks, int]]:
    """Every row with a vector: the stored one where it can be read, else the text embedded again
    (`embed`, called only then). Yields (page, rows re-embedded in it)."""
    for page in collection.iter_pages(include_embeddings=False):
        try:
            stored = collection.get(ids=page.ids, include_embeddings=True)
            by_id = dict(zip(stored.ids, stored.embeddings if stored.embeddings is not None else []))
        except Exception:  # the vector segment is what is broken: fall back to the text
            by_id = {}
        vectors = [by_id.get(i) for i in page.ids]
        missing = [n for n, v in enumerate(vectors) if v is None or not np.isfinite(v).all() or not np.any(v)]
        if missing:
            fresh = embed([page.texts[n] for n in missing])
            for n, vector in zip(missing, fresh):
                vectors[n] = vector
        embeddings = np.asarray(np.stack(vectors), dtype=np.float32)
        yield StoredChunks(page.ids, page.texts, page.metadatas, embeddings), len(missing)


def _embedder_for(name: str, info: EmbedderInfo) -> Callable[[list[str]], np.ndarray]:
    """What re-embeds rows whose stored vector is lost: the collection's model, loaded on first need.
    A collection whose model this app cannot run (imported vectors) is repaired from its stored
    vectors alone, and refused only if one of them is lost."""
    def embed(texts: list[str]) -> np.ndarray:
        if info.name not in EMBEDDERS:
            raise CollectionDamaged(
                f"collection '{name}': {len(texts)} row(s) have lost their vector, and its model ({info.name}) "
                "cannot run here to embed their text again; nothing was changed. Import the vectors again")
        return get_embedder(info.name).embed(texts)
    return embed


def _repair_name(name: str) -> str:
    return name[:63 - len(REPAIR_SUFFIX)].rstrip("-._") + REPAIR_SUFFIX


def _rebuild_vectors(store: Store, name: str, info: EmbedderInfo, progress: ProgressCallback) -> tuple[int, int]:
    """Copy every row of `name` into a fresh collection beside it, then swap that in under `name`.

    The fresh collection is marked "repair-build" until every row is in it, then "repair-ready";
    `Store.replace_collection` swaps it in. Killed while building, the original is untouched and the
    next opening of the store removes the fresh one; killed during the swap, the next opening finishes
    it (core.stores.base.settle_interrupted). Either way the collection is whole, old or new, and no
    `-repair` collection outlives the command that finds it.
    """
    original = open_existing(store, name)
    total = original.count()
    spare_name = _repair_name(name)
    if spare_name in collection_names(store):
        pending = open_existing(store, spare_name).pending()
        if pending is None or not pending.what.startswith("repair-"):
            raise ExplorerError(f"a collection named '{spare_name}' exists and is not a repair's: rename or "
                                f"delete it, then repair '{name}' again (nothing was changed)")
        if pending.alive():
            raise ExplorerError(f"collection '{name}' is being repaired by another process ({pending.pid} on "
                                f"{pending.host}); wait for it to finish")
        store.delete_collection(spare_name)  # a killed repair's, not settled yet
    spare = store.open_collection(spare_name, info, create=True)
    written = re_embedded = 0
    try:
        spare.set_pending(Pending.mine("repair-build", name))
        progress(ProgressEvent("rebuild vectors", 0, total, name))
        with spare.bulk_write(total):
            for page, missing in _readable_pages(original, _embedder_for(name, info)):
                spare.upsert(page_chunks(page), page.embeddings)
                written += len(page.ids)
                re_embedded += missing
                progress(ProgressEvent("rebuild vectors", written, total, name))
        if written != total or spare.count() != total:
            raise CollectionDamaged(f"collection '{name}' counts {total} chunks but only {written} could be read "
                                    "into the rebuilt index; nothing was changed")
        spare.set_pending(Pending.mine("repair-ready", name))
    except BaseException:
        store.delete_collection(spare_name)
        raise
    store.replace_collection(spare_name, name)
    return written, re_embedded


def _rebuild_keyword(collection: Collection, progress: ProgressCallback) -> None:
    rebuild = getattr(collection, "rebuild_keyword_index", None)  # a store that can rebuild on demand
    if callable(rebuild):
        rebuild(progress)
    else:
        collection.sync_keyword_index()


def set_aside_broken_chroma_segment(store: Store, name: str) -> Path | None:
    """A Chroma folder whose HNSW files cannot be loaded fails every read of the collection, text
    included. Moving that collection's vector segment folder aside (into .repair-backup/, never
    deleted) lets Chroma read the text and metadata again, so the vectors can be rebuilt from them.
    Returns where the folder went, or None when the store is not a Chroma folder or has none."""
    database = _chroma_database(store)
    if database is None:
        return None
    folder = database.parent
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id "
                          "WHERE c.name = ? AND s.scope = 'VECTOR'", (name,)).fetchall()
    for (segment,) in rows:
        segment_dir = folder / segment
        if segment_dir.is_dir():
            backup = folder / ".repair-backup" / f"{segment}-{time.strftime('%Y%m%dT%H%M%S')}"
            backup.parent.mkdir(exist_ok=True)
            shutil.move(str(segment_dir), backup)
            return backup
    return None


def repair_collection(store: Store, name: str, progress: ProgressCallback = no_progress) -> RepairReport:
    """Rebuild what `check_collection` finds broken in `name` (the keyword index always)."""
    embedder_info: EmbedderInfo = store.collection_embedder(name)
    before = check_collection(open_existing(store, name))
    if before.chunks is None:  # nothing can be read: on a Chroma folder, the vector segment is the usual cause
        set_aside_broken_chroma_segment(store, name)
        store = open_store(store.url)  # a client that loads the folder as it is now
        before = check_collection(open_existing(store, name))
        if before.chunks is None:
            raise CollectionDamaged(f"collection '{name}' cannot be read at all: {before.problems[0].message}")
    rebuilt = re_embedded = 0
    if before.needs("vector"):
        rebuilt, re_embedded = _rebuild_vectors(store, name, embedder_info, progress)
    collection = open_existing(store, name)
    # Moved once the rows are whole again (a damaged collection is not read more than a repair must),
    # before the keyword index is rebuilt over the moved rows.
    move_to_current_scheme(collection, progress=progress)
    progress(ProgressEvent("keyword index", 0, None, name))
    _rebuild_keyword(collection, progress)
    accepted = None
    expected = collection.expected_rows()
    if collection.pending() is None and expected is not None and expected != collection.count():
        accepted = (expected, collection.count())
        collection.set_pending(None)  # what is left is now the collection; check said what went
    return RepairReport(name, True, rebuilt, re_embedded, check_collection(collection), accepted)


# -- disk space -------------------------------------------------------------------------------

# Measured on a Chroma folder (1,000 and 3,000 chunks of 200 and 1,000 characters, 384-d vectors,
# written in the pipeline's batches, keyword index built): 4.5-6.6 kB per 200-character chunk and
# 15-19 kB per 1,000-character one, i.e. about 15 bytes per character of text (Chroma's document column
# and its full-text index, the write-ahead log, our keyword index) plus the vector and ~2 kB per chunk
# (HNSW links, ids, metadata). A new folder starts with ~0.2 MB of database.
TEXT_BYTES_PER_CHAR = 15
CHUNK_OVERHEAD = 2_000
CHARS_PER_UNIT = {"chars": 1, "words": 6, "tokens": 4}
STORE_BASE = 200_000
MARGIN = 1.5  # estimates are rough (a PDF's bytes are not its text); a full disk is far worse than an early no


@dataclass(frozen=True)
class SpaceEstimate:
    chunks: int
    bytes_needed: int
    bytes_free: int

    @property
    def fits(self) -> bool:
        return self.bytes_needed <= self.bytes_free


def estimate_space(source_bytes: int, settings: ChunkSettings, dimension: int, free: int,
                   new_store: bool = False) -> SpaceEstimate:
    """What ingesting `source_bytes` of files cut by `settings` will write: vectors, text (counted
    again for every overlap), index upkeep."""
    unit_chars = CHARS_PER_UNIT.get(settings.unit, 1)
    chunk_chars = settings.size * unit_chars
    step_chars = max(1, (settings.size - settings.overlap) * unit_chars)
    chunks = -(-source_bytes // step_chars)
    stored_chars = min(chunks * chunk_chars, source_bytes * chunk_chars // step_chars)
    needed = (chunks * (dimension * 4 + CHUNK_OVERHEAD) + TEXT_BYTES_PER_CHAR * stored_chars
              + (STORE_BASE if new_store else 0))
    return SpaceEstimate(chunks=chunks, bytes_needed=int(MARGIN * needed), bytes_free=free)


def check_space(collection: Collection, source_bytes: int, settings: ChunkSettings) -> None:
    """Refuse an ingest that the disk under a local store folder cannot hold (servers keep their own disks)."""
    folder = getattr(collection, "folder", None)
    if folder is None or not source_bytes:
        return
    estimate = estimate_space(source_bytes, settings, collection.embedder.dimension,
                              shutil.disk_usage(folder).free, new_store=collection.count() == 0)
    if not estimate.fits:
        raise ExplorerError(
            f"not enough disk space for this ingest: about {estimate.chunks:,} chunks need roughly "
            f"{_mb(estimate.bytes_needed)} in {folder}, and {_mb(estimate.bytes_free)} are free; "
            "free some space or ingest fewer files at a time (nothing was written)")


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"
