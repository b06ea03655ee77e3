"""Chroma, embedded (a persistent folder) or as a server (chromadb.HttpClient).

Chroma keeps the vectors; a keyword index (core/keyword.py, one SQLite file per
collection) keeps the BM25 side. Every write runs inside the index's write
transaction, which is also the one-writer-at-a-time lock of that collection in every
process: the collection's version (`keyword_version` in its metadata) is bumped
before the rows change and again after, the index is updated in the same call and
stamped with the final version, then committed. A crash or a failed write leaves
the index stamped with an older version, and the next use rebuilds it from the
store before answering; so does a write by another machine on a Chroma server.

Reads take no lock. Chroma's embedded client is not process-safe on its own: each
process keeps its own copy of a collection's vector index in memory, so after
another process writes to the folder its queries miss the new rows (`count` and
`get`, read from SQLite, do not). Every operation reads the collection's version
first (it has to: it is the key of the keyword index and of the app's caches); a
version this process neither loaded nor wrote itself means another process wrote,
and the process's one client for that folder is closed and opened afresh
(`FolderClient.reopen`, public `Client.close()`), waiting only for calls already
running on the old one.

A folder another program made is never changed by looking at it: nothing is created
until something is written, a collection without our version stamp is read-only,
and its keyword index lives under data/cache. A folder of ours made by another
chromadb version is refused before chromadb opens it (chromadb would migrate it in
place); someone else's older folder is read from its snapshot, which chromadb migrates.
Which model made someone else's collection: chroma_foreign.py.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import quote

import chromadb
import httpx
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings
from chromadb.utils.embedding_functions import register_embedding_function

from ..errors import (CollectionNotFound, EmbedderMismatch, ExplorerError, KeywordIndexDamaged, ReadOnlyCollection,
                      StoreDamaged, StoreFull, StoreIncompatible, StoreUnavailable)
from ..keyword import KeywordIndex, KeywordWriter, keyword_index, remove_keyword_index
from ..types import (Chunk, CollectionInfo, DocumentCount, EmbedderInfo, Filter, Hit, Metadata, ProgressCallback,
                     SourceInfo, no_progress)
from .base import (PAGE_SIZE, READ_ALL_PAGE, Pending, StoredChunks, check_collection_name, check_same_embedder,
                   count_documents, sources_of, valid_collection_name)
from .crash import write_step

# Chroma caps one request's batch (5,461 rows for a write, 32,766 SQL variables for a read); writes are
# paged below it, reads of a whole collection at READ_ALL_PAGE.
PAGE = 2000
VERSION_KEY = "keyword_version"  # the collection's version, in its Chroma metadata (named when it only keyed BM25)
UNSTAMPED = "unstamped"          # the version of a collection another program made: it has none
PENDING_KEY = "explorer_pending"  # the operation under way (core.stores.base.Pending), absent when none
ROWS_KEY = "explorer_rows"        # the row count the last completed write left
CHROMA_DB = "chroma.sqlite3"
OPEN_ATTEMPTS = 4  # opening a new store or collection that another process is creating at the same moment
# Free space a write must leave: chromadb rewrites a vector index's files in place when it saves them, and
# a disk that fills up meanwhile leaves them truncated (index_metadata.pickle at 0 bytes: every later call fails).
SPACE_MARGIN = 1 << 20
BYTES_PER_ROW = 1024    # ids, metadata, sqlite rows and index entries, besides the vector and the text
TEXT_COPIES = 8         # a chunk's text: in chromadb's log, its documents table and full-text index; our postings
DISK_FULL = ("database or disk is full", "No space left on device")
# Another program's collection indexed in another space than cosine (chromadb's default is l2): its index's
# nearest RERANK x k are ranked again by cosine, the measure every page shows.
RERANK = 4
DAMAGED = ("Error in compaction", "hnsw segment reader", "Error deserializing", "Error loading hnsw index", "database disk image is malformed")


TIMEOUT_VARIABLE = "EXPLORER_CHROMA_TIMEOUT"
DEFAULT_TIMEOUT = 10.0  # seconds to connect to a Chroma server, and to wait for each answer


def server_timeout() -> float:
    """The Chroma server timeout: EXPLORER_CHROMA_TIMEOUT seconds, else 10."""
    raw = os.environ.get(TIMEOUT_VARIABLE, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_TIMEOUT
    except ValueError:
        raise StoreUnavailable(f"{TIMEOUT_VARIABLE} must be a number of seconds, not {raw!r}") from None
    if not value > 0:
        raise StoreUnavailable(f"{TIMEOUT_VARIABLE} must be more than 0 seconds, not {raw!r}")
    return value


def chroma_settings() -> Settings:
    """Fresh each time: chromadb's client constructors write into the Settings they are given."""
    return Settings(anonymized_telemetry=False, allow_reset=False)


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

    def embed_query(self, input: Documents) -> Embeddings:  # type: ignore[override]
        """Queries through the model's query side (instruction-tuned endpoints prefix them)."""
        from ..embedders import get_embedder
        from ..embedding_endpoints import embed_queries
        return list(embed_queries(get_embedder(self.embedder), list(input)))

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


def index_space(raw: Any) -> str:
    """The distance Chroma's index ranks a collection by. A folder from chromadb 0.x says it in the
    `hnsw:space` metadata, which chromadb 1.x still obeys over the configuration it migrated (that reads l2)."""
    space = (raw.metadata or {}).get("hnsw:space")
    if space:
        return str(space)
    try:
        config = raw.configuration_json or {}
    except Exception:  # a configuration this chromadb cannot read: chromadb's default
        return "l2"
    return str((config.get("hnsw") or config.get("spann") or {}).get("space") or "l2")


def _is_uuid(name: str) -> bool:
    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True


def new_version() -> str:
    return uuid.uuid4().hex


def version_of(raw: Any, client: FolderClient | ServerClient) -> str:
    """Our stamp; for a collection another program made, which has none, the state of its folder."""
    stamp = (raw.metadata or {}).get(VERSION_KEY)
    return str(stamp) if stamp is not None else f"{UNSTAMPED}-{client.signature}"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


@contextmanager
def explained(url: str, collection: str | None = None) -> Iterator[None]:
    """chromadb's and SQLite's errors for a full disk or broken files, as messages that say what to do."""
    try:
        yield
    except ExplorerError:
        raise
    except Exception as exc:
        text = str(exc)
        if any(s in text for s in DISK_FULL):
            raise StoreFull(f"the disk holding {url} is full ({text.strip()[:120]}); the write did not complete: "
                            "free some space, then `python -m core check` says whether anything needs repair") from exc
        if any(s in text for s in DAMAGED):
            target = f" --collection {collection}" if collection else ""
            raise StoreDamaged(f"{'collection ' + repr(collection) if collection else 'the store'} in {url} is "
                               f"damaged (a full disk or a crash while its vector index was saved: {text.strip()[:160]}); "
                               f"run `python -m core repair --store {url}{target}`") from exc
        raise


# -- a folder made by another chromadb ------------------------------------------------------


def _schema(database: Path) -> dict[str, int]:
    """The chromadb schema of a store: the last migration applied per part, read without changing a byte."""
    uri = f"file:{quote(str(database))}?mode=ro&immutable=1"
    db = sqlite3.connect(uri, uri=True)
    try:
        return {part: int(version) for part, version in
                db.execute("SELECT dir, max(version) FROM migrations GROUP BY dir")}
    finally:
        db.close()


@lru_cache(maxsize=1)
def _our_schema() -> dict[str, int]:
    """The schema this chromadb writes, read from a store it makes in a scratch folder (chromadb's own
    migrations live in its compiled part, so there is no list of them to read)."""
    with tempfile.TemporaryDirectory() as scratch:
        client = chromadb.PersistentClient(path=scratch, settings=chroma_settings())
        client.close()
        return _schema(Path(scratch) / CHROMA_DB)


def check_chroma_folder(folder: Path, snapshot: bool = False) -> bool:
    """Refuse a folder that this chromadb would migrate in place on opening (or cannot read at all).

    With `snapshot` (someone else's folder, opened from a copy) an older one is fine: chromadb migrates
    the copy, never the original. Returns whether it is older."""
    try:
        theirs = _schema(folder / CHROMA_DB)
    except sqlite3.DatabaseError as exc:
        raise StoreIncompatible(f"{folder} holds a {CHROMA_DB} that is not a Chroma store this tool can read "
                                f"({exc}); nothing was changed") from exc
    ours = _our_schema()
    if theirs == ours:
        return False
    older = all(theirs.get(part, 0) <= version for part, version in ours.items())
    if older and snapshot:
        return True
    raise StoreIncompatible(
        f"{folder} was made by {'an older' if older else 'a newer'} chromadb than the {chromadb.__version__} "
        f"installed here (schema {theirs}, this one writes {ours}); opening it would "
        + ("upgrade it in place, after which its own program may no longer read it. Nothing was changed: open "
           "a copy (`cp -r` the folder) to upgrade the copy, or use the chromadb that made it"
           if older else "fail. Nothing was changed: upgrade chromadb to open it"))


# -- one client per folder per process ------------------------------------------------------


class FolderClient:
    """This process's one chromadb client for a store folder, shared by every store object, session and thread.

    Calls run side by side, each inside a `lease`; `reopen` (after another process wrote)
    waits for the leases running to end, closes the client and opens a new one that
    loads the folder as it is now. `seen` holds, per collection, the versions the loaded
    vector index is known to reflect: those loaded, and those this process is writing.

    chromadb writes to any folder it opens (a row in `acquire_write` on opening, vector
    index files on the first read), so a folder another program made is opened from a
    snapshot copy in data/cache/foreign, taken again whenever its database file changes
    (`signature`); ours are the folders holding our keyword indexes or collections.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.opened = 0  # how many clients this process has opened on the folder
        self._client: Any = None
        self._state = threading.Condition()
        self._leases = 0
        self._reopening = False
        self._held = threading.local()
        self._seen: dict[str, set[str]] = {}
        self.read_only = False  # someone else's folder, opened from a snapshot
        self.older = False      # ... made by an older chromadb (the snapshot, never the folder, is migrated)
        self.signature = ""     # of someone else's folder: what its snapshot was taken from

    def exists(self) -> bool:
        """Whether the folder holds a store; StoreDamaged when its catalog is gone but its data is not
        (opening it would start an empty catalog beside rows nobody could reach again)."""
        if (self.folder / CHROMA_DB).is_file():
            return True
        segments = [d for d in self.folder.iterdir() if d.is_dir() and _is_uuid(d.name)] if self.folder.is_dir() else []
        keyword = [f for f in (self.folder / "keyword").glob("*.sqlite3") if f.stat().st_size] \
            if (self.folder / "keyword").is_dir() else []
        if segments or keyword:
            raise StoreDamaged(f"the Chroma store at {self.folder} has lost its catalog ({CHROMA_DB}) but still holds "
                               f"{len(segments)} vector index folder(s) and {len(keyword)} keyword index file(s): "
                               f"restore {CHROMA_DB} from a backup; nothing was changed")
        return False

    def current_signature(self) -> str:
        """Changes whenever chromadb writes to the folder (every write goes through its database file)."""
        stat = (self.folder / CHROMA_DB).stat()
        return f"{stat.st_mtime_ns}-{stat.st_size}"

    def _is_ours(self) -> bool:
        if (self.folder / "keyword").is_dir() or (self.folder / ".explorer.lock").exists():  # (the latter: older ours)
            return True
        uri = f"file:{quote(str(self.folder / CHROMA_DB))}?mode=ro&immutable=1"
        db = sqlite3.connect(uri, uri=True)
        try:
            return db.execute("SELECT count(*) FROM collection_metadata WHERE key = ?", (VERSION_KEY,)).fetchone()[0] > 0
        except sqlite3.DatabaseError:  # not a Chroma catalog at all: the strict schema check says so
            return True
        finally:
            db.close()

    def _snapshot(self) -> Path:
        """A copy of someone else's folder to open instead of it (see the class docstring)."""
        from ..config import DATA_DIR

        root = DATA_DIR / "cache" / "foreign" / hashlib.sha256(str(self.folder).encode()).hexdigest()[:16]
        self.signature = self.current_signature()
        copy = root / self.signature
        if not copy.is_dir():
            scratch = root / f".{uuid.uuid4().hex}"
            shutil.copytree(self.folder, scratch, ignore=shutil.ignore_patterns(CHROMA_DB, f"{CHROMA_DB}-*"))
            source = sqlite3.connect(f"file:{quote(str(self.folder / CHROMA_DB))}?mode=ro", uri=True)
            target = sqlite3.connect(scratch / CHROMA_DB)
            try:
                source.backup(target)  # a consistent copy even while its owner writes
            finally:
                source.close()
                target.close()
            try:
                scratch.rename(copy)
            except OSError:  # another process made the same snapshot first
                shutil.rmtree(scratch, ignore_errors=True)
        for old in root.iterdir():  # earlier snapshots (a process still using one keeps its open files)
            if old != copy and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
        return copy

    def held(self) -> bool:
        return getattr(self._held, "depth", 0) > 0

    def _check_schema(self, snapshot: bool) -> None:
        for attempt in range(OPEN_ATTEMPTS):
            try:
                self.older = check_chroma_folder(self.folder, snapshot)
                return
            except StoreIncompatible:
                # One of ours that another process is creating right now: its database is not whole yet.
                if not (self.folder / "keyword").is_dir() or attempt + 1 == OPEN_ATTEMPTS:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _open(self, create: bool) -> None:
        path = self.folder
        if not self.exists():
            if not create:
                raise CollectionNotFound(f"there is no Chroma store at {self.folder}")
            try:
                (self.folder / "keyword").mkdir(parents=True, exist_ok=True)  # a store of ours from the start
            except OSError as exc:
                raise StoreUnavailable(f"cannot make a Chroma store at {self.folder}: {exc.strerror}") from exc
        else:
            self.read_only = not self._is_ours()
            self._check_schema(snapshot=self.read_only)
            if self.read_only:
                path = self._snapshot()
        for attempt in range(OPEN_ATTEMPTS):
            try:
                self._client = chromadb.PersistentClient(path=str(path), settings=chroma_settings())
                break
            except Exception as exc:  # chromadb's own errors for a folder it cannot open
                # Two processes making one new store collide ("table ... already exists"); the second try opens it.
                if attempt + 1 < OPEN_ATTEMPTS:
                    time.sleep(0.2 * (attempt + 1))
                    continue
                raise StoreDamaged(f"cannot open the Chroma store at {self.folder} ({type(exc).__name__}: {exc}); "
                                   f"`python -m core check --store {self.folder}` says what is wrong") from exc
        self.opened += 1

    @contextmanager
    def lease(self, create: bool = False) -> Iterator[Any]:
        if self.held():  # a call inside a call (a write that reads first) shares its lease
            self._held.depth += 1
            try:
                yield self._client
            finally:
                self._held.depth -= 1
            return
        with self._state:
            while self._reopening:
                self._state.wait()
            if self._client is None:
                self._open(create)
            self._leases += 1
            client = self._client
        self._held.depth = 1
        try:
            yield client
        finally:
            self._held.depth = 0
            with self._state:
                self._leases -= 1
                self._state.notify_all()

    def knows(self, name: str, version: str) -> bool:
        """Whether the loaded vector index reflects `version` of collection `name` (see the class docstring)."""
        if self.read_only and self.current_signature() != self.signature:
            return False  # its owner wrote: take a new snapshot
        with self._state:
            return version in self._seen.setdefault(name, {version})

    def expect(self, name: str, versions: set[str]) -> None:
        """This process is about to write these versions itself: they are not someone else's."""
        with self._state:
            self._seen[name] = set(versions)

    def reopen(self) -> None:
        with self._state:
            if self._reopening:  # another thread is at it: its fresh client will do
                while self._reopening:
                    self._state.wait()
                return
            self._reopening = True
            try:
                while self._leases:
                    self._state.wait()
                old, self._client = self._client, None
                self._seen.clear()
                if old is not None:
                    old.close()  # stops its system (we hold the only client), so the next one reads from disk
                self._open(create=False)
            finally:
                self._reopening = False
                self._state.notify_all()


class ServerClient:
    """A Chroma server's client: the server keeps every caller current, so there is nothing to reopen."""

    read_only = False
    older = False
    signature = ""

    def __init__(self, host: str, port: int):
        timeout = server_timeout()
        # chromadb's client waits without limit (its httpx session has timeout=None) and calls the server
        # while it is being made: one bounded call first, then the limit set on its session.
        try:
            httpx.get(f"http://{host}:{port}/api/v2/heartbeat", timeout=timeout).raise_for_status()
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(f"the Chroma server at {host}:{port} did not answer within {timeout:g} s "
                                   f"(set {TIMEOUT_VARIABLE} to wait longer)") from exc
        except httpx.HTTPError:  # refused, or an answer chromadb's own client explains better: it says next
            pass
        self._client = chromadb.HttpClient(host=host, port=port, settings=chroma_settings())
        self._client._server._session.timeout = httpx.Timeout(timeout)

    @staticmethod
    def exists() -> bool:
        return True

    @staticmethod
    def held() -> bool:
        return False

    @contextmanager
    def lease(self, create: bool = False) -> Iterator[Any]:
        yield self._client

    @staticmethod
    def knows(name: str, version: str) -> bool:
        return True

    def expect(self, name: str, versions: set[str]) -> None:
        return None

    def reopen(self) -> None:
        return None


_FOLDERS: dict[Path, FolderClient] = {}
_FOLDERS_LOCK = threading.Lock()


def folder_client(folder: Path) -> FolderClient:
    key = folder.resolve()
    with _FOLDERS_LOCK:
        client = _FOLDERS.get(key)
        if client is None:
            client = _FOLDERS[key] = FolderClient(key)
        return client


# -- a collection ------------------------------------------------------------------------


class ChromaCollection:
    def __init__(self, store: ChromaStore, raw: Any, embedder: EmbedderInfo):
        self._store = store
        self.name: str = raw.name
        self.embedder = embedder
        self.ours = VERSION_KEY in (raw.metadata or {}) and not store.client.read_only
        self.space = index_space(raw)  # "cosine" for ours
        self._keyword: KeywordIndex = keyword_index(store.keyword_path(self.name, self.ours))
        self.folder: Path | None = store.folder  # where writes land on this machine (None for a server)
        self._deferring_keywords = False  # inside a big `bulk_write`: the keyword index is rebuilt at its end

    @property
    def read_only(self) -> bool:
        return not self.ours

    def _readable(self, texts: list[str | None], metadatas: list[Metadata | None]) -> tuple[list, list]:
        """Someone else's rows may have no document or no metadata (chromadb allows both): they read as
        empty. Ours always have both; one missing is damage, left for `check` to name."""
        if self.ours:
            return texts, metadatas
        return [t or "" for t in texts], [m or {} for m in metadatas]

    def _version_of(self, raw: Any) -> str:
        return version_of(raw, self._store.client)

    @contextmanager
    def _use(self) -> Iterator[Any]:
        """The Chroma collection, its metadata as of now, from a client whose vector index has every write."""
        client = self._store.client
        if client.held():  # inside another call of this thread, which has checked already
            with self._store.access() as api:
                yield self._store.get_raw(api, self.name)
            return
        for _ in range(3):
            with self._store.access() as api:
                raw = self._store.get_raw(api, self.name)
                if client.knows(self.name, self._version_of(raw)):
                    yield raw
                    return
            client.reopen()  # another process wrote: load the folder as it is now
        raise StoreUnavailable(f"the Chroma store at {self._store.url} changed three times while being opened; "
                               "try again")

    # -- writing -------------------------------------------------------------
    def _write(self, apply: Callable[[Any, KeywordWriter], None]) -> None:
        """Run `apply(raw collection, keyword index writer)` as one write (see the module docstring)."""
        self._check_writable()
        with explained(self._store.url, self.name), self._keyword.writing() as index, self._use() as raw:
            before = self._version_of(raw)
            if index.stamp != before and not self._deferring_keywords:  # another writer's crash, or a writer
                self._rebuild(index, before)                            # elsewhere: catch up first
            pending, done = new_version(), new_version()
            self._store.client.expect(self.name, {before, pending, done})
            self._set_version(raw, pending)  # from here until `done`, the index's stamp says it is behind
            write_step()
            apply(raw, index)
            write_step()
            self._set_version(raw, done, **{ROWS_KEY: raw.count()})
            if not self._deferring_keywords:  # deferred: the stamp stays behind until the block's rebuild
                index.set_stamp(done)

    def _ensure_space(self, rows: int, text_bytes: int) -> None:
        """Refuse a write the disk may not hold, before anything is written (see SPACE_MARGIN)."""
        client = self._store.client
        if not isinstance(client, FolderClient):
            return
        # Every collection's vector index files: any of them may be saved again by this write.
        segments = sum(f.stat().st_size for d in client.folder.iterdir() if d.is_dir() and _is_uuid(d.name)
                       for f in d.iterdir() if f.is_file())
        need = segments + rows * (BYTES_PER_ROW + 3 * 4 * self.embedder.dimension) + TEXT_COPIES * text_bytes + SPACE_MARGIN
        free = shutil.disk_usage(client.folder).free
        if free < need:
            raise StoreFull(f"not enough free disk space at {client.folder} for this write: it needs about {_mb(need)} "
                            f"(its vector index is saved whole), {_mb(free)} is free. Nothing was written; "
                            "free some space and try again")

    def _check_writable(self) -> None:
        if not self.ours:
            raise ReadOnlyCollection(
                f"collection '{self.name}' in {self._store.url} was not made by this tool, so it is only read "
                "here; copy it into a collection of ours to change it")

    @staticmethod
    def _set_version(raw: Any, version: str, **more: Any) -> None:
        raw.modify(metadata={**(raw.metadata or {}), VERSION_KEY: version, **more})

    def pending(self) -> Pending | None:
        with self._use() as raw:
            return Pending.decode((raw.metadata or {}).get(PENDING_KEY))

    def set_pending(self, pending: Pending | None) -> None:
        """Recorded in the collection's metadata under the write lock; clearing it also records the rows
        as they now are, the operation having completed."""
        self._check_writable()
        with explained(self._store.url, self.name), self._keyword.writing(), self._use() as raw:
            metadata = {k: v for k, v in (raw.metadata or {}).items() if k != PENDING_KEY}
            if pending is not None:
                metadata[PENDING_KEY] = pending.encode()
            else:
                metadata[ROWS_KEY] = raw.count()
            raw.modify(metadata=metadata)
        write_step()

    def expected_rows(self) -> int | None:
        with self._use() as raw:
            rows = (raw.metadata or {}).get(ROWS_KEY) if self.ours else None
            return None if rows is None else int(rows)

    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        if not chunks:
            return
        self._check_writable()
        if embeddings.shape != (len(chunks), self.embedder.dimension):
            raise EmbedderMismatch(
                f"collection '{self.name}' holds {self.embedder.dimension}-dimensional vectors; "
                f"got {embeddings.shape[1]}-dimensional ones")
        self._ensure_space(len(chunks), sum(len(c.text.encode()) for c in chunks))

        def apply(raw: Any, index: KeywordWriter) -> None:
            for lo in range(0, len(chunks), PAGE):
                part = chunks[lo:lo + PAGE]
                raw.upsert(ids=[c.id for c in part], documents=[c.text for c in part],
                           metadatas=[c.metadata for c in part], embeddings=embeddings[lo:lo + PAGE])
                if lo + PAGE < len(chunks):  # between pages (the write's own steps are before and after)
                    write_step()
            if not self._deferring_keywords:
                index.add([c.id for c in chunks], [c.text for c in chunks], [c.metadata for c in chunks])

        self._write(apply)

    @contextmanager
    def bulk_write(self, rows: int) -> Iterator[None]:
        """About `rows` rows are coming: if that at least doubles the collection, the keyword index is left
        behind by the block's writes and rebuilt once from the stored text at its end.

        Each write edits the postings of every term it touches, rewriting lists that grow with the
        collection: a million rows in batches cost quadratic time, while one rebuild is linear. Meanwhile
        the index's stamp lags the version, so a keyword search (in any process) rebuilds it before
        answering, and a block that dies half way leaves it to the next use. Chroma keeps its HNSW
        index current as it writes either way."""
        if rows < self.count():
            yield
            return
        self._deferring_keywords = True
        try:
            yield
        finally:
            self._deferring_keywords = False
        self.sync_keyword_index()

    def delete_ids(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        self._ensure_space(len(ids), 0)

        def apply(raw: Any, index: KeywordWriter) -> None:
            for lo in range(0, len(ids), PAGE):
                raw.delete(ids=list(ids[lo:lo + PAGE]))
            index.remove(list(ids))

        self._write(apply)

    def delete_source(self, source: str, keep_ids: Sequence[str] = ()) -> int:
        doomed: list[str] = []
        self._ensure_space(0, 0)

        def apply(raw: Any, index: KeywordWriter) -> None:
            doomed.extend(sorted(set(raw.get(where={"source": source}, include=[])["ids"]) - set(keep_ids)))
            for lo in range(0, len(doomed), PAGE):
                raw.delete(ids=doomed[lo:lo + PAGE])
            index.remove(doomed)

        self._write(apply)
        return len(doomed)

    # -- reading -------------------------------------------------------------
    def version(self) -> str:
        with self._use() as raw:
            return self._version_of(raw)

    def count(self) -> int:
        with self._use() as raw:
            return raw.count()

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self._use() as raw:
            for lo in range(0, len(ids), PAGE):
                found.update(raw.get(ids=list(ids[lo:lo + PAGE]), include=[])["ids"])
        return found

    def document_counts(self, progress: ProgressCallback = no_progress) -> list[DocumentCount]:
        return count_documents(self._pages(None, False, READ_ALL_PAGE), self.count(), progress)

    def sources(self) -> list[SourceInfo]:
        return sources_of(self.document_counts())

    def categories(self) -> list[str]:
        return sorted({d.category for d in self.document_counts() if d.category})

    def get(self, where: Filter | None = None, include_embeddings: bool = False,
            limit: int | None = None, ids: Sequence[str] | None = None) -> StoredChunks:
        pages = list(self._pages(where, include_embeddings, READ_ALL_PAGE, limit, ids))
        return StoredChunks.concat(pages, self.embedder.dimension, include_embeddings)

    def iter_pages(self, where: Filter | None = None, include_embeddings: bool = False,
                   page_size: int = PAGE_SIZE) -> Iterator[StoredChunks]:
        return self._pages(where, include_embeddings, min(page_size, READ_ALL_PAGE))

    def _pages(self, where: Filter | None, include_embeddings: bool, page_size: int,
               limit: int | None = None, ids: Sequence[str] | None = None) -> Iterator[StoredChunks]:
        include = ["documents", "metadatas"] + (["embeddings"] if include_embeddings else [])
        if ids is not None:  # asked for by id: a page of ids at a time
            pages = [dict(ids=list(ids[lo:lo + page_size])) for lo in range(0, len(ids), page_size)]
        else:
            total = limit if limit is not None else self.count()
            pages = [dict(limit=min(page_size, total - lo), offset=lo) for lo in range(0, total, page_size)]
        for page_args in pages:
            with self._use() as raw:  # a page at a time: a reopen waits for one page, not a whole read
                page = raw.get(where=chroma_where(where), include=include, **page_args)
            if not page["ids"]:
                break
            embeddings = None
            if include_embeddings:
                embeddings = np.asarray(page["embeddings"], dtype=np.float32).reshape(len(page["ids"]), -1)
            texts, metadatas = self._readable(page["documents"], page["metadatas"])
            yield StoredChunks(ids=page["ids"], texts=texts, metadatas=metadatas, embeddings=embeddings)

    def vector_search(self, embedding: np.ndarray, k: int, where: Filter | None = None) -> list[Hit]:
        if k <= 0:
            return []
        # No count() first: it costs as much as the query at 100k rows, and Chroma
        # simply returns fewer rows when asked for more than it holds.
        query = np.asarray(embedding, dtype=np.float32)
        cosine = self.space == "cosine"
        with self._use() as raw:
            result = raw.query(query_embeddings=[query], n_results=k if cosine else k * RERANK,
                               where=chroma_where(where),
                               include=["documents", "metadatas", "distances"] + ([] if cosine else ["embeddings"]))
        ids = result["ids"][0]
        texts, metadatas = self._readable(result["documents"][0], result["metadatas"][0])
        if cosine:  # distance = 1 - cosine similarity
            rows = list(zip(ids, texts, metadatas, (1.0 - float(d) for d in result["distances"][0])))
        else:  # the index's own distance is no cosine: the cosines of the candidates it found, best first
            found = np.asarray(result["embeddings"][0], dtype=np.float32).reshape(len(ids), -1)
            found = found / np.maximum(np.linalg.norm(found, axis=1, keepdims=True), 1e-12)
            scores = found @ (query / max(float(np.linalg.norm(query)), 1e-12))
            rows = sorted(zip(ids, texts, metadatas, map(float, scores)), key=lambda row: -row[3])[:k]
        return [Hit(id=i, text=t, metadata=m, score=score, rank=r)
                for r, (i, t, m, score) in enumerate(rows, start=1)]

    # -- keyword side --------------------------------------------------------
    def _rebuild(self, index: KeywordWriter, version: str, progress: ProgressCallback = no_progress) -> None:
        pages = ((p.ids, p.texts, p.metadatas) for p in self._pages(None, False, PAGE))
        index.rebuild(pages, version, total=self.count(), progress=progress)

    def sync_keyword_index(self) -> None:
        """Bring the keyword index up to date: rebuilt from the store when its stamp is not the version."""
        if self._keyword.stamp == self.version():
            return
        with explained(self._store.url, self.name), self._keyword.writing() as index, self._use() as raw:
            version = self._version_of(raw)
            if index.stamp != version:  # a writer may have caught up meanwhile
                self._rebuild(index, version)

    def rebuild_keyword_index(self, progress: ProgressCallback = no_progress) -> None:
        """Rebuild the keyword index from what the store holds (`python -m core repair`); a file too
        damaged to open is set aside first (kept beside it as `.damaged-TIME`)."""
        try:
            self._keyword.stats()
        except KeywordIndexDamaged:
            self._keyword.set_aside()
        with explained(self._store.url, self.name), self._keyword.writing() as index, self._use() as raw:
            self._rebuild(index, self._version_of(raw), progress)

    def keyword_search(self, query: str, k: int, where: Filter | None = None) -> list[Hit]:
        with self._use() as raw:
            if self._keyword.stamp == self._version_of(raw):  # the usual case: one look at Chroma, one fetch
                return self._keyword_hits(raw, query, k, where)
        self.sync_keyword_index()
        with self._use() as raw:
            return self._keyword_hits(raw, query, k, where)

    def _keyword_hits(self, raw: Any, query: str, k: int, where: Filter | None) -> list[Hit]:
        """The index ranks; Chroma supplies the text and metadata of the chunks it ranked."""
        found = self._keyword.search(query, k, where)
        if not found:
            return []
        if all(h.text is not None for h in found):  # the index keeps each chunk's text and metadata
            return [Hit(id=h.id, text=h.text, metadata=h.metadata or {}, score=h.score, rank=h.rank) for h in found]
        rows = raw.get(ids=[h.id for h in found], include=["documents", "metadatas"])
        by_id = dict(zip(rows["ids"], zip(*self._readable(rows["documents"], rows["metadatas"]))))
        # A chunk deleted since the index answered is left out, not shown empty.
        kept = [h for h in found if h.id in by_id]
        return [Hit(id=h.id, text=by_id[h.id][0], metadata=by_id[h.id][1], score=h.score, rank=rank)
                for rank, h in enumerate(kept, start=1)]

    # -- health --------------------------------------------------------------
    def check(self) -> list[str]:
        """What is wrong with this collection, in words (empty when healthy): ids unique; every row has
        its document, metadata and vector; the vector index finds rows by their own vectors; the
        keyword index holds exactly the stored ids at the current version."""
        problems: list[str] = []
        repair = f"`python -m core repair --store {self._store.url} --collection {self.name}`"
        try:
            version, count = self.version(), self.count()
            ids: list[str] = []
            no_text = no_metadata = no_vector = 0
            for page in self._pages(None, True, PAGE):
                ids.extend(page.ids)
                no_text += sum(t is None for t in page.texts)
                no_metadata += sum(m is None for m in page.metadatas)
                assert page.embeddings is not None
                no_vector += int(np.count_nonzero(~np.isfinite(page.embeddings).all(axis=1)))
        except Exception as exc:  # a broken segment shows up as any of chromadb's errors
            return [f"collection '{self.name}' cannot be read ({type(exc).__name__}: {exc}); {repair}"]
        if len(ids) != len(set(ids)):
            problems.append(f"{len(ids) - len(set(ids))} ids occur more than once")
        if len(ids) != count:
            problems.append(f"the collection counts {count} chunks but {len(ids)} could be read; {repair}")
        for what, n in (("a document", no_text), ("metadata", no_metadata), ("a usable vector", no_vector)):
            if n:
                problems.append(f"{n} chunks have no {what}; {repair}")
        # Whether the vector index finds rows by their own vectors is core.health's lookup, which allows
        # for identical vectors (duplicate texts): a top-3 lookup here called four copies of a text lost.
        try:
            stats = self._keyword.stats()
        except KeywordIndexDamaged as exc:
            return problems + [f"{exc} (`python -m core repair --store {self._store.url} --collection {self.name}`)"]
        if stats.stamp != version and (count or stats.stamp is not None):  # a new empty collection has none yet
            problems.append("the keyword index is behind the collection (rebuilt by the next keyword search, "
                            f"or now by {repair})")
        else:
            indexed = self._keyword.indexed_ids()
            if sorted(indexed) != sorted(set(ids)):
                missing, extra = len(set(ids) - set(indexed)), len(set(indexed) - set(ids))
                problems.append(f"the keyword index misses {missing} chunks and holds {extra} that are gone; {repair}")
        return problems


# -- the store ---------------------------------------------------------------------------


class ChromaStore:
    """`url` is a folder path (embedded) or chroma://HOST:PORT (a running Chroma server).
    Opening a folder reads nothing and creates nothing: the folder is looked at when first used."""

    def __init__(self, url: str, keyword_root: Path | None = None):
        from ..config import DATA_DIR

        self.url = url
        self.folder: Path | None = None if url.startswith("chroma://") else Path(url)
        cache = DATA_DIR / "cache" / "keyword"
        if url.startswith("chroma://"):
            host, _, port = url.removeprefix("chroma://").rstrip("/").partition(":")
            try:
                self.client: FolderClient | ServerClient = ServerClient(host, int(port or 8000))
            except StoreUnavailable:
                raise
            except ValueError as exc:
                raise StoreUnavailable(f"cannot open the Chroma store at {url}: {exc}") from exc
            except Exception as exc:  # chromadb raises its own errors for an unreachable server
                raise StoreUnavailable(f"cannot reach the Chroma server at {url} ({type(exc).__name__}); "
                                       "is `chroma run` started?") from exc
            self._own_keyword_root = self._foreign_keyword_root = cache / f"{host}-{port or 8000}"
        else:
            folder = Path(url)
            self.client = folder_client(folder)
            self._own_keyword_root = folder / "keyword"
            # Someone else's folder gets nothing of ours: their collections' keyword indexes live in our cache.
            digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
            self._foreign_keyword_root = cache / f"folder-{digest}"
        if keyword_root is not None:
            self._own_keyword_root = self._foreign_keyword_root = keyword_root

    def exists(self) -> bool:
        """Whether there is a store at this URL yet (a folder is made by the first collection created in it)."""
        return self.client.exists()

    @property
    def read_only(self) -> bool:
        """Another program's folder (read from a copy): nothing is created in it or deleted from it."""
        if not self.exists():
            return False
        with self.access():  # opening tells whether the folder is ours
            pass
        return self.client.read_only

    @property
    def notice(self) -> str | None:
        """What a user should know before using this store, in words; None for a store of ours."""
        if not self.read_only:
            return None
        return (f"{self.url} was made by another program{' with an older chromadb' if self.client.older else ''}: "
                "it is read from a copy in data/cache/foreign"
                f"{', upgraded to this chromadb' if self.client.older else ''}, and never written to")

    def keyword_path(self, name: str, ours: bool) -> Path:
        root = self._own_keyword_root if ours else self._foreign_keyword_root
        legacy = root / name  # the bm25s builds this index replaced: a folder per collection
        if ours and (legacy / "current.json").is_file():
            shutil.rmtree(legacy, ignore_errors=True)
        return root / f"{name}.sqlite3"

    @contextmanager
    def access(self, create: bool = False) -> Iterator[Any]:
        """Around every call into Chroma: the client, leased; a server that stopped answering
        is reported as StoreUnavailable."""
        try:
            with explained(self.url), self.client.lease(create) as api:
                yield api
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(f"the Chroma server at {self.url} did not answer within {server_timeout():g} s "
                                   f"(set {TIMEOUT_VARIABLE} to wait longer)") from exc
        except httpx.TransportError as exc:  # connection refused or dropped
            raise StoreUnavailable(f"lost the Chroma server at {self.url} ({type(exc).__name__}); "
                                   "is `chroma run` still running?") from exc

    def get_raw(self, api: Any, name: str) -> Any:
        if not valid_collection_name(name):  # no such collection can exist; nor may it reach a server URL path
            raise CollectionNotFound(f"no collection named '{name}' in {self.url}")
        try:
            return api.get_collection(name)
        except Exception as exc:  # NotFoundError in chromadb; ValueError in older releases
            if "does not exist" in str(exc) or type(exc).__name__ in {"NotFoundError", "InvalidCollectionException"}:
                raise CollectionNotFound(f"no collection named '{name}' in {self.url}") from exc
            raise

    def raw_collection(self, name: str) -> Any:
        if not self.exists():
            raise CollectionNotFound(f"no collection named '{name}' in {self.url} (there is no store there yet)")
        with self.access() as api:
            return self.get_raw(api, name)

    def _embedder_of(self, raw: Any) -> EmbedderInfo:
        meta = raw.metadata or {}
        if "embedder" in meta:
            return EmbedderInfo(name=str(meta["embedder"]), dimension=int(meta.get("dimension", 0)))
        from .chroma_foreign import foreign_embedder  # another program's collection: its model, if we have it

        return foreign_embedder(raw, self.url)

    def list_collections(self) -> list[CollectionInfo]:
        if not self.exists():  # a folder that is not there (yet) holds no collections, and stays absent
            return []
        with self.access() as api:
            infos = [CollectionInfo(name=raw.name, embedder=self._embedder_of(raw), count=raw.count())
                     for raw in api.list_collections()]
        return sorted(infos, key=lambda info: info.name)

    def collection_embedder(self, name: str) -> EmbedderInfo:
        return self._embedder_of(self.raw_collection(name))

    def open_collection(self, name: str, embedder: EmbedderInfo, create: bool = True) -> ChromaCollection:
        check_collection_name(name)
        try:
            raw = self.raw_collection(name)
        except CollectionNotFound:
            if not create:
                raise
            if self.client.read_only:
                raise ReadOnlyCollection(f"the Chroma store at {self.url} was made by another program: it is only "
                                         f"read here, so collection '{name}' cannot be made in it; ingest into a "
                                         "store folder of ours")
            with self.access(create=True) as api:
                raw = self._create(api, name, embedder)
        collection = ChromaCollection(self, raw, self._embedder_of(raw))
        check_same_embedder(name, collection.embedder, embedder)
        return collection

    @staticmethod
    def _create(api: Any, name: str, embedder: EmbedderInfo) -> Any:
        def create() -> Any:
            return api.get_or_create_collection(
                name, metadata={"embedder": embedder.name, "dimension": embedder.dimension, VERSION_KEY: new_version()},
                configuration={"hnsw": {"space": "cosine"}}, embedding_function=ExplorerEmbeddingFunction(embedder.name))

        for attempt in range(OPEN_ATTEMPTS - 1):
            try:
                return create()
            except Exception:  # another process created it at the same moment: the next try gets theirs
                time.sleep(0.2 * (attempt + 1))
        return create()

    def replace_collection(self, spare: str, name: str) -> None:
        """`spare` becomes `name`: `name` is deleted, then `spare` renamed with its pending mark cleared in
        the same catalog update. A kill between the two leaves `spare` whole and marked ready, which
        `settle_interrupted` (run when the store is next opened) renames."""
        if name in self._names():
            self.delete_collection(name)
        write_step()
        with self.access() as api:
            raw = self.get_raw(api, spare)
            metadata = {k: v for k, v in (raw.metadata or {}).items() if k != PENDING_KEY}
            metadata[ROWS_KEY] = raw.count()
            raw.modify(name=name, metadata=metadata)
        # The renamed rows get their keyword index under `name`, rebuilt from their text at first use.
        remove_keyword_index(self.keyword_path(spare, True))
        write_step()

    def _names(self) -> set[str]:
        with self.access() as api:
            return {raw.name for raw in api.list_collections()}

    def pending_marks(self) -> dict[str, str]:
        """Read from the catalog without opening chromadb (a folder) or in one listing (a server)."""
        if self.folder is None:
            with self.access() as api:
                return {raw.name: str(raw.metadata[PENDING_KEY]) for raw in api.list_collections()
                        if PENDING_KEY in (raw.metadata or {})}
        if not self.exists() or not (self.folder / "keyword").is_dir():  # none, or another program's: not looked into
            return {}
        catalog = sqlite3.connect(f"file:{quote(str(self.folder / CHROMA_DB))}?mode=ro", uri=True)
        try:
            return dict(catalog.execute(
                "SELECT c.name, m.str_value FROM collections c JOIN collection_metadata m ON m.collection_id = c.id "
                "WHERE m.key = ?", (PENDING_KEY,)).fetchall())
        except sqlite3.DatabaseError:  # not readable as a catalog: chromadb's own open says why
            return {}
        finally:
            catalog.close()

    def delete_collection(self, name: str) -> None:
        raw = self.raw_collection(name)
        ours = VERSION_KEY in (raw.metadata or {}) and not self.client.read_only
        if not ours:
            raise ReadOnlyCollection(f"collection '{name}' in {self.url} was not made by this tool; "
                                     "it is not deleted from here")
        index = keyword_index(self.keyword_path(name, ours))
        with index.writing() as writer, self.access() as api:
            api.delete_collection(name)
            writer.clear()  # emptied, not removed: other processes may hold the file open
