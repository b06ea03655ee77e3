"""PostgreSQL + pgvector: one table per collection, its vectors and its BM25 term statistics.

A registry table maps each collection to its table, the model that filled it,
its vector index, its version and its BM25 statistics (chunks, total length).
Each collection table keeps a chunk's text, where it came from (source,
category, document hash, position), its metadata as jsonb and its embedding;
a postings table beside it holds the chunk's terms (core.stores.pg_bm25), written
in the same transaction as the row, so keyword search is BM25 computed inside
PostgreSQL, scored exactly as bm25s scores the Chroma stores, and never drifts
from the vectors. Collections made before the postings existed get them built
on first keyword use, or by `rebuild_keyword_index` (`python -m core repair`).

The vector index is HNSW (built as rows arrive) or IVFFlat (k-means lists, so it
is built once rows are there, and rebuilt with sqrt(rows) lists each time the
table has grown fourfold), or none for exact search. Pick it per store with
URL parameters, e.g. `postgresql://host/db?index=ivfflat` or
`?index=hnsw&m=24&ef_construction=100`; a collection keeps the index it was made with.

Filters go into the WHERE clause of the same query as the similarity (or BM25)
ordering, with pgvector's iterative index scans on, so a filter that leaves only
a few rows still yields k of them. Every value is a query parameter and every
table or index name a quoted `sql.Identifier`. The store is one object shared by
the app's threads; each transaction borrows a connection from a pool.
"""
from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import uuid
import weakref
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Literal, Sequence
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import CollectionNotFound, EmbedderMismatch, ExplorerError, StoreUnavailable
from ..keyword import Analyzer, BM25Settings
from ..types import (Chunk, CollectionInfo, DocumentCount, EmbedderInfo, Filter, Hit, Metadata, ProgressCallback,
                     ProgressEvent, SourceInfo, no_progress)
from . import pg_bm25
from .base import PAGE_SIZE, Pending, StoredChunks, check_collection_name, check_same_embedder
from .crash import write_step

log = logging.getLogger(__name__)
# The pool reports failed (re)connections itself; our callers get a StoreUnavailable instead,
# so its warnings stay out of the CLI's stderr unless the application configures logging.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())

REGISTRY = sql.Identifier("explorer_collections")
# Serialises creating the registry and (re)building IVFFlat indexes across processes.
ADVISORY_LOCK = 0x6578706C  # "expl"
# Columns a collection table holds, in COPY order, with their types for binary COPY.
COLUMNS = ("id", "text", "source", "category", "document", "chunk_index", "start_char", "end_char",
           "metadata", "embedding")
COPY_TYPES = ["text", "text", "text", "text", "text", "int4", "int4", "int4", "jsonb", "vector"]
# hnsw.ef_search caps the candidates an HNSW scan keeps; pgvector allows at most 1000.
MAX_EF_SEARCH = 1000
IVFFLAT_REGROWTH = 4  # rebuild the lists when the table has grown this many times over
IVFFLAT_PROBES_PER_SQRT_LIST = 2
# Memory for one index build: an HNSW graph that outgrows it builds far slower. Transaction-local.
INDEX_BUILD_MEMORY = "512MB"
# Connections per store: Streamlit sessions (threads) query in parallel up to this many at once.
POOL_SIZE = 8
POOL_WAIT = 30.0  # seconds a transaction waits for a free connection before giving up
CONNECT_TIMEOUT = 10
KEYWORD_PAGE = 5000  # chunks analysed per step when the BM25 statistics are (re)built


@dataclass(frozen=True)
class VectorIndex:
    """Which approximate-nearest-neighbour index a new collection gets (cosine distance).

    HNSW: `m` links per node and `ef_construction` candidates while building
    (pgvector's defaults). IVFFlat: `lists` k-means cells, None for sqrt(rows)
    chosen at each build. "exact": no index, every query scans the table.
    """

    kind: Literal["hnsw", "ivfflat", "exact"] = "hnsw"
    m: int = 16
    ef_construction: int = 64
    lists: int | None = None

    @classmethod
    def from_params(cls, params: dict[str, str]) -> VectorIndex:
        kind = params.get("index", "hnsw")
        if kind not in ("hnsw", "ivfflat", "exact"):
            raise ExplorerError(f"unknown vector index '{kind}' in the store URL: use hnsw, ivfflat or exact")
        try:
            numbers = {key: int(params[key]) for key in ("m", "ef_construction", "lists") if key in params}
        except ValueError as exc:
            raise ExplorerError(f"vector index settings in the store URL must be whole numbers ({exc})") from exc
        return cls(kind=kind, **numbers)  # type: ignore[arg-type]


INDEX_PARAMS = ("index", "m", "ef_construction", "lists")


def split_url(url: str) -> tuple[str, VectorIndex, str]:
    """(libpq connection URL, index settings from our own query parameters, URL without password for messages)."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    ours = {k: v for k, v in params.items() if k in INDEX_PARAMS}
    libpq = {k: v for k, v in params.items() if k not in INDEX_PARAMS}
    conninfo = urlunsplit(parts._replace(query=urlencode(libpq, quote_via=quote)))
    shown = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"
    return conninfo, VectorIndex.from_params(ours), shown


def with_index(url: str, kind: str) -> str:
    """`url` asking for a `kind` index on new collections, unless it already names one."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query)
    if any(key == "index" for key, _ in params):
        return url
    return urlunsplit(parts._replace(query=urlencode([*params, ("index", kind)], quote_via=quote)))


def table_name(collection: str) -> str:
    """A table name for a (validated) collection name: readable, unique, within PostgreSQL's 63 bytes."""
    slug = re.sub(r"[^a-z0-9]+", "_", collection.lower()).strip("_")[:40]
    return f"chunks_{slug}_{hashlib.sha256(collection.encode()).hexdigest()[:8]}"


def pg_text(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL characters (stray ones come from some PDFs).
    return value.replace("\x00", "\ufffd")


def pg_metadata(metadata: Metadata) -> Metadata:
    return {pg_text(k): pg_text(v) if isinstance(v, str) else v for k, v in metadata.items()}


def scalar(cur: psycopg.Cursor | psycopg.Connection, query: sql.Composed | str, params: Sequence[Any] = ()) -> Any:
    """The single value a query returns (a count, a flag), or None for no row."""
    row = cur.execute(query, params).fetchone()
    return None if row is None else row[0]


def filter_sql(where: Filter | None) -> tuple[sql.Composable, dict[str, Any]]:
    """Our Filter as a WHERE condition and its (named) parameters."""
    conditions: list[sql.Composable] = [sql.SQL("TRUE")]
    params: dict[str, Any] = {}
    if where is not None and where.categories:
        conditions.append(sql.SQL("category = ANY(%(categories)s)"))
        params["categories"] = list(where.categories)
    if where is not None and where.sources:
        conditions.append(sql.SQL("source = ANY(%(sources)s)"))
        params["sources"] = list(where.sources)
    return sql.SQL(" AND ").join(conditions), params


class Database:
    """A pool of connections, shared by every thread that uses the store.

    Streamlit serves sessions from several threads through one cached store; each
    transaction borrows its own connection, so their queries run side by side.
    A server that is down (or went away) is a StoreUnavailable saying so: the pool
    is opened only after one direct connection succeeded (a pool would just time
    out, without the reason), and a connection broken mid-session drops the whole
    pool, so the next call reconnects afresh or says at once why it cannot.
    """

    def __init__(self, conninfo: str, shown: str):
        self._conninfo = conninfo
        self.shown = shown
        self._lock = threading.Lock()
        self._pool: ConnectionPool | None = None
        self._close_pool: weakref.finalize | None = None
        self.iterative_scan = False
        self._current_pool()

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreUnavailable(f"cannot reach PostgreSQL at {self.shown}: {reason} "
                                "(is the server running? scripts/start-postgres.sh starts a local one)")

    def _probe(self) -> None:
        """One direct connection: raises StoreUnavailable with the reason if the server cannot be reached."""
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from exc
        with conn:
            version = self._vector_extension(conn)
        # hnsw/ivfflat.iterative_scan (pgvector 0.8): filtered scans go on until k rows pass.
        self.iterative_scan = tuple(int(p) for p in version.split(".")[:2]) >= (0, 8)

    def _vector_extension(self, conn: psycopg.Connection) -> str:
        version = scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        if version is None:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as exc:
                raise StoreUnavailable(
                    f"the database at {self.shown} has no pgvector extension and it could not be added "
                    f"({str(exc).strip().splitlines()[0]}); install pgvector (scripts/install-system.sh) "
                    "or ask an administrator to run CREATE EXTENSION vector") from exc
            version = scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        return str(version)

    def _current_pool(self) -> ConnectionPool:
        with self._lock:
            if self._pool is None:
                self._probe()
                self._pool = ConnectionPool(
                    self._conninfo, min_size=1, max_size=POOL_SIZE, timeout=POOL_WAIT, open=True,
                    configure=register_vector, name=f"explorer {self.shown}",
                    kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT})
                # Closed by whichever thread lets go of the store: left to the pool's own __del__,
                # the last reference may die in one of its worker threads, which cannot join itself.
                self._close_pool = weakref.finalize(self, self._pool.close)
            return self._pool

    def _drop(self, pool: ConnectionPool) -> None:
        with self._lock:
            if self._pool is not pool:
                return
            self._pool, close = None, self._close_pool
        if close is not None:
            close()

    @contextmanager
    def transaction(self, binary: bool = False) -> Iterator[psycopg.Cursor]:
        pool = self._current_pool()
        conn: psycopg.Connection | None = None
        try:
            with pool.connection() as conn, conn.transaction(), conn.cursor(binary=binary) as cursor:
                yield cursor
        except PoolTimeout as exc:
            try:
                self._probe()
            except StoreUnavailable:  # the server is gone: say so, and start afresh next time
                self._drop(pool)
                raise
            raise StoreUnavailable(f"PostgreSQL at {self.shown}: all {POOL_SIZE} connections stayed busy "
                                   f"for {POOL_WAIT:.0f} s; try again") from exc
        except psycopg.OperationalError as exc:
            if conn is not None and conn.broken:  # the server went away; the next call connects afresh
                self._drop(pool)
                raise self._unavailable(exc) from exc
            raise


class PgVectorCollection:
    read_only = False  # only our own tables are opened this way (another application's: pg_table)

    def __init__(self, db: Database, name: str, table: str, embedder: EmbedderInfo, index: VectorIndex,
                 keyword: BM25Settings = BM25Settings()):
        self._db = db
        self.name = name
        self.embedder = embedder
        self.index = index
        self.keyword_settings = keyword
        self._analyzer = Analyzer(keyword)
        self._table_name = table
        self._table = sql.Identifier(table)
        self._postings = pg_bm25.postings_table(table)
        self._vector_index = sql.Identifier(f"{table}_embedding")
        self._deferring_index = False
        self._keyword_ready = False  # set once this object has seen the postings complete

    @contextmanager
    def _transaction(self, binary: bool = False) -> Iterator[psycopg.Cursor]:
        try:
            with self._db.transaction(binary) as cursor:
                yield cursor
        except psycopg.errors.UndefinedTable as exc:
            raise CollectionNotFound(f"collection '{self.name}' was deleted from {self._db.shown}") from exc

    # -- writing -------------------------------------------------------------
    def _lock_for_write(self, cur: psycopg.Cursor) -> bool:
        """Lock the collection's registry row for this write; True if its postings are kept (complete).

        Writers of one collection (and a rebuild of its postings) take this lock
        first, so the BM25 statistics they update in the same transaction add up.
        A collection whose postings are not built yet gets them whole at its first
        keyword search; writes before that need not keep them.
        """
        row = cur.execute(sql.SQL("SELECT keyword_index FROM {} WHERE name = %s FOR UPDATE").format(REGISTRY),
                          [self.name]).fetchone()
        if row is None:
            raise CollectionNotFound(f"collection '{self.name}' was deleted from {self._db.shown}")
        return row[0] == pg_bm25.analyzer_key(self.keyword_settings)

    def _forget_terms(self, cur: psycopg.Cursor, ids: Sequence[str]) -> int:
        """Delete these chunks' postings and document frequencies; returns their total length (in terms)."""
        return int(scalar(cur, pg_bm25.forget_postings(self._table_name), [list(ids)]))

    def _write_terms(self, cur: psycopg.Cursor, ids: Sequence[str], texts: Sequence[str]) -> int:
        """Add these chunks' postings (none may exist yet); returns their total length."""
        terms = pg_bm25.chunk_terms(self._analyzer, ids, texts)
        columns = sql.SQL(", ").join(map(sql.Identifier, pg_bm25.POSTING_COLUMNS))
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(self._postings, columns)) as copy:
            copy.set_types(pg_bm25.POSTING_TYPES)
            for chunk in terms:
                for row in chunk.rows():
                    copy.write_row(row)
        cur.execute(pg_bm25.count_frequencies(self._table_name), [list(ids)])
        return sum(chunk.length for chunk in terms)

    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        if not chunks:
            return
        if embeddings.ndim != 2 or embeddings.shape != (len(chunks), self.embedder.dimension):
            raise EmbedderMismatch(
                f"collection '{self.name}' holds {self.embedder.dimension}-dimensional vectors; "
                f"got an array of shape {embeddings.shape} for {len(chunks)} chunks")
        vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
        # ON CONFLICT may touch a row once per statement: the last copy of a repeated id wins.
        last = {chunk.id: n for n, chunk in enumerate(chunks)}
        columns = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
        updates = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in COLUMNS[1:])
        with self._transaction() as cur:
            keeping_terms = self._lock_for_write(cur)
            cur.execute("CREATE TEMP TABLE incoming (id text, text text, source text, category text, "
                        "document text, chunk_index int4, start_char int4, end_char int4, metadata jsonb, "
                        "embedding vector) ON COMMIT DROP")
            with cur.copy(sql.SQL("COPY incoming ({}) FROM STDIN (FORMAT BINARY)").format(columns)) as copy:
                copy.set_types(COPY_TYPES)
                for n in last.values():
                    chunk = chunks[n]
                    copy.write_row((
                        chunk.id, pg_text(chunk.text), pg_text(str(chunk.metadata.get("source", chunk.source))),
                        pg_text(str(chunk.metadata.get("category", ""))),
                        pg_text(str(chunk.metadata.get("document", ""))),
                        chunk.index, chunk.start, chunk.end, pg_metadata(chunk.metadata), vectors[n]))
            ids = list(last)
            added, length = len(ids) - len(self._existing_ids(cur, ids)), 0
            if keeping_terms:  # replaced chunks leave the statistics, then every incoming one enters them
                length = -self._forget_terms(cur, ids)
                length += self._write_terms(cur, ids, [chunks[n].text for n in last.values()])
            cur.execute(sql.SQL("INSERT INTO {table} ({columns}) SELECT {columns} FROM incoming "
                                "ON CONFLICT (id) DO UPDATE SET {updates}").format(
                table=self._table, columns=columns, updates=updates))
            self._bump_version(cur, added if keeping_terms else 0, length, rows=added)
        write_step()
        if self.index.kind == "ivfflat" and not self._deferring_index:
            self._keep_ivfflat_fresh()

    @contextmanager
    def bulk_write(self, rows: int) -> Iterator[None]:
        """About `rows` rows are coming: if that at least doubles the table, build the vector index once at the end.

        Building HNSW over loaded rows is ~8x faster than inserting into it row by
        row (20,000 MiniLM-sized rows: 5 s against 40 s). Searches meanwhile scan
        exactly; a block that dies half way leaves no index, and the next
        `open_collection` builds it.
        """
        if self.index.kind == "exact" or rows < self.count():
            yield
            return
        with self._transaction() as cur:
            cur.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(self._vector_index))
        self._deferring_index = True
        try:
            yield
        finally:
            self._deferring_index = False
            self.ensure_vector_index(rebuild=True)

    def _delete_where(self, condition: sql.Composable, params: Sequence[Any]) -> int:
        """Delete the chunks `condition` selects, their postings and their share of the statistics."""
        with self._transaction() as cur:
            keeping_terms = self._lock_for_write(cur)
            gone = [row[0] for row in cur.execute(
                sql.SQL("DELETE FROM {} WHERE {} RETURNING id").format(self._table, condition), params)]
            if gone:
                length = self._forget_terms(cur, gone) if keeping_terms else 0
                self._bump_version(cur, -len(gone) if keeping_terms else 0, -length, rows=-len(gone))
        write_step()
        return len(gone)

    def delete_ids(self, ids: Sequence[str]) -> None:
        if ids:
            self._delete_where(sql.SQL("id = ANY(%s)"), [list(ids)])

    def delete_source(self, source: str, keep_ids: Sequence[str] = ()) -> int:
        return self._delete_where(sql.SQL("source = %s AND NOT (id = ANY(%s))"), [source, list(keep_ids)])

    # -- BM25 statistics ---------------------------------------------------------
    def sync_keyword_index(self) -> None:
        """Build the BM25 postings if this collection has none yet (made before they existed)."""
        self._ensure_keyword_index(log_progress)

    def _ensure_keyword_index(self, progress: ProgressCallback) -> None:
        if self._keyword_ready:
            return
        with self._transaction() as cur:
            built = scalar(cur, sql.SQL("SELECT keyword_index FROM {} WHERE name = %s").format(REGISTRY), [self.name])
        if built != pg_bm25.analyzer_key(self.keyword_settings):
            self._build_keyword_index(progress, only_if_missing=True)
        self._keyword_ready = True

    def rebuild_keyword_index(self, progress: ProgressCallback = no_progress) -> None:
        """Analyse every chunk again and replace the postings and statistics, in one transaction."""
        self._build_keyword_index(progress, only_if_missing=False)
        self._keyword_ready = True

    def _build_keyword_index(self, progress: ProgressCallback, only_if_missing: bool) -> None:
        key = pg_bm25.analyzer_key(self.keyword_settings)
        with self._transaction() as cur:
            if self._lock_for_write(cur) and only_if_missing:
                return  # another thread or process built them while this one waited for the lock
            for statement in pg_bm25.create_postings(self._table_name):
                cur.execute(statement)
            cur.execute(sql.SQL("TRUNCATE {}, {}").format(self._postings,
                                                          pg_bm25.frequencies_table(self._table_name)))
            # Tables made before the postings ranked by a generated tsvector: nothing reads it now.
            cur.execute(sql.SQL("ALTER TABLE {} DROP COLUMN IF EXISTS tsv").format(self._table))
            total, chunks, length, after = self.count_in(cur), 0, 0, ""
            progress(ProgressEvent("keyword index", 0, total, self.name))
            while True:
                rows = cur.execute(sql.SQL("SELECT id, text FROM {} WHERE id > %s ORDER BY id LIMIT %s")
                                   .format(self._table), [after, KEYWORD_PAGE]).fetchall()
                if not rows:
                    break
                length += self._write_terms(cur, [r[0] for r in rows], [r[1] for r in rows])
                chunks, after = chunks + len(rows), rows[-1][0]
                progress(ProgressEvent("keyword index", chunks, total, self.name))
            cur.execute(sql.SQL("UPDATE {} SET keyword_index = %s, keyword_chunks = %s, keyword_length = %s "
                                "WHERE name = %s").format(REGISTRY), [key, chunks, length, self.name])
            self._bump_version(cur)

    # -- the vector index ------------------------------------------------------
    def ensure_vector_index(self, rebuild: bool = False) -> None:
        """Create the collection's vector index if it is missing (or `rebuild` an IVFFlat one)."""
        if self.index.kind == "hnsw" and not self._has_vector_index():
            with self._transaction() as cur:
                cur.execute("SELECT set_config('maintenance_work_mem', %s, true)", [INDEX_BUILD_MEMORY])
                cur.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding vector_cosine_ops) "
                                    "WITH (m = {}, ef_construction = {})").format(
                    self._vector_index, self._table, sql.Literal(self.index.m),
                    sql.Literal(self.index.ef_construction)))
        elif self.index.kind == "ivfflat":
            self._keep_ivfflat_fresh(force=rebuild or not self._has_vector_index())

    def _has_vector_index(self) -> bool:
        with self._transaction() as cur:
            return bool(scalar(cur, "SELECT to_regclass(%s) IS NOT NULL", [self._vector_index.as_string()]))

    def _keep_ivfflat_fresh(self, force: bool = False) -> None:
        """Build the IVFFlat lists once rows are there, and again each time the table has grown 4x.

        k-means cells fitted to the first rows only would leave later rows crowded
        into a few lists; rebuilding at each fourfold growth costs at most a third
        more than one build at the end.
        """
        with self._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])
            rows = self.count_in(cur)
            built_at = int(self._index_state(cur).get("rows_at_build", 0))
            if rows == 0 or (not force and built_at and rows < IVFFLAT_REGROWTH * built_at):
                return
            lists = self.index.lists or max(1, round(math.sqrt(rows)))
            cur.execute("SELECT set_config('maintenance_work_mem', %s, true)", [INDEX_BUILD_MEMORY])
            cur.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(self._vector_index))
            cur.execute(sql.SQL("CREATE INDEX {} ON {} USING ivfflat (embedding vector_cosine_ops) "
                                "WITH (lists = {})").format(self._vector_index, self._table, sql.Literal(lists)))
            cur.execute(sql.SQL("UPDATE {} SET index_params = index_params || %s WHERE name = %s").format(REGISTRY),
                        [Jsonb({"built_lists": lists, "rows_at_build": rows}), self.name])

    def _index_state(self, cur: psycopg.Cursor) -> dict[str, Any]:
        row = cur.execute(sql.SQL("SELECT index_params FROM {} WHERE name = %s").format(REGISTRY),
                          [self.name]).fetchone()
        if row is None:
            raise CollectionNotFound(f"collection '{self.name}' was deleted from {self._db.shown}")
        return dict(row[0])

    def _search_settings(self, cur: psycopg.Cursor, k: int) -> None:
        """Transaction-local scan settings: enough candidates for k, and filtered scans that keep going."""
        cur.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(min(MAX_EF_SEARCH, max(40, k)))])
        if self.index.kind == "ivfflat":
            # Probes: on SciFact with MiniLM (5,183 rows, 72 lists) pgvector's suggested sqrt(lists)
            # gave recall@10 0.89; twice that 0.955, at 0.5 ms a query.
            lists = int(self._index_state(cur).get("built_lists", 1))
            probes = min(lists, round(IVFFLAT_PROBES_PER_SQRT_LIST * math.sqrt(lists)))
            cur.execute("SELECT set_config('ivfflat.probes', %s, true)", [str(max(1, probes))])
        if self._db.iterative_scan:
            cur.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
            cur.execute("SELECT set_config('ivfflat.iterative_scan', 'relaxed_order', true)")

    # -- reading -------------------------------------------------------------
    def count_in(self, cur: psycopg.Cursor) -> int:
        return int(scalar(cur, sql.SQL("SELECT count(*) FROM {}").format(self._table)))

    def _bump_version(self, cur: psycopg.Cursor, chunks: int = 0, length: int = 0, rows: int = 0) -> None:
        """A new version, the chunks and terms this write added to the BM25 statistics (negative: removed),
        and the rows it added to the collection's expected count: all in the write's own transaction."""
        cur.execute(sql.SQL("UPDATE {} SET version = version + 1, keyword_chunks = keyword_chunks + %s, "
                            "keyword_length = keyword_length + %s, expected_rows = expected_rows + %s "
                            "WHERE name = %s").format(REGISTRY),
                    [chunks, length, rows, self.name])

    def pending(self) -> Pending | None:
        with self._transaction() as cur:
            return Pending.decode(scalar(cur, sql.SQL("SELECT pending FROM {} WHERE name = %s").format(REGISTRY),
                                         [self.name]))

    def set_pending(self, pending: Pending | None) -> None:
        """Cleared, the operation has completed: the rows as they are now are the expected ones."""
        with self._transaction() as cur:
            self._lock_for_write(cur)
            if pending is None:
                cur.execute(sql.SQL("UPDATE {} SET pending = NULL, expected_rows = (SELECT count(*) FROM {}) "
                                    "WHERE name = %s").format(REGISTRY, self._table), [self.name])
            else:
                cur.execute(sql.SQL("UPDATE {} SET pending = %s WHERE name = %s").format(REGISTRY),
                            [pending.encode(), self.name])
        write_step()

    def expected_rows(self) -> int | None:
        with self._transaction() as cur:
            rows = scalar(cur, sql.SQL("SELECT expected_rows FROM {} WHERE name = %s").format(REGISTRY), [self.name])
        return None if rows is None else int(rows)

    def version(self) -> str:
        with self._transaction() as cur:
            return str(scalar(cur, sql.SQL("SELECT version FROM {} WHERE name = %s").format(REGISTRY), [self.name]))

    def count(self) -> int:
        with self._transaction() as cur:
            return self.count_in(cur)

    def _existing_ids(self, cur: psycopg.Cursor, ids: Sequence[str]) -> set[str]:
        cur.execute(sql.SQL("SELECT id FROM {} WHERE id = ANY(%s)").format(self._table), [list(ids)])
        return {row[0] for row in cur}

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        with self._transaction() as cur:
            return self._existing_ids(cur, ids)

    def document_counts(self, progress: ProgressCallback = no_progress) -> list[DocumentCount]:
        with self._transaction() as cur:  # one query: nothing to report progress on
            cur.execute(sql.SQL("SELECT source, coalesce(metadata->>'row', ''), category, count(*) FROM {} "
                                "GROUP BY 1, 2, 3").format(self._table))
            # Sorted here rather than by the database collation, so every store lists alike.
            return [DocumentCount(*row) for row in sorted(cur.fetchall())]

    def sources(self) -> list[SourceInfo]:
        with self._transaction() as cur:
            cur.execute(sql.SQL("SELECT source, category, count(*) FROM {} GROUP BY 1, 2").format(self._table))
            return [SourceInfo(source=s, category=c, chunks=n) for s, c, n in sorted(cur.fetchall())]

    def categories(self) -> list[str]:
        with self._transaction() as cur:
            cur.execute(sql.SQL("SELECT DISTINCT category FROM {} WHERE category <> ''").format(self._table))
            return sorted(row[0] for row in cur)

    def _select(self, cur: psycopg.Cursor, where: Filter | None, include_embeddings: bool,
                limit: int | None, ids: Sequence[str] | None, after: str | None) -> StoredChunks:
        condition, params = filter_sql(where)
        if ids is not None:
            condition = sql.SQL("{} AND id = ANY(%(ids)s)").format(condition)
            params["ids"] = list(ids)
        if after is not None:
            condition = sql.SQL("{} AND id > %(after)s").format(condition)
            params["after"] = after
        columns = sql.SQL("id, text, metadata, embedding" if include_embeddings else "id, text, metadata")
        query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY id").format(columns, self._table, condition)
        if limit is not None:
            query = sql.SQL("{} LIMIT %(limit)s").format(query)
            params["limit"] = limit
        rows = cur.execute(query, params).fetchall()
        embeddings = None
        if include_embeddings:
            embeddings = (np.stack([row[3].to_numpy() for row in rows]).astype(np.float32, copy=False) if rows
                          else np.zeros((0, self.embedder.dimension), np.float32))
        return StoredChunks(ids=[r[0] for r in rows], texts=[r[1] for r in rows],
                            metadatas=[r[2] for r in rows], embeddings=embeddings)

    def get(self, where: Filter | None = None, include_embeddings: bool = False,
            limit: int | None = None, ids: Sequence[str] | None = None) -> StoredChunks:
        with self._transaction(binary=True) as cur:
            return self._select(cur, where, include_embeddings, limit, ids, after=None)

    def iter_pages(self, where: Filter | None = None, include_embeddings: bool = False,
                   page_size: int = PAGE_SIZE) -> Iterator[StoredChunks]:
        # Keyset paging (id > last id seen): each page is one indexed range scan, and
        # rows written meanwhile neither shift later pages nor appear twice.
        after: str | None = None
        while True:
            with self._transaction(binary=True) as cur:
                page = self._select(cur, where, include_embeddings, page_size, None, after)
            if not page.ids:
                return
            yield page
            after = page.ids[-1]

    def vector_search(self, embedding: np.ndarray, k: int, where: Filter | None = None) -> list[Hit]:
        if k <= 0:
            return []
        condition, params = filter_sql(where)
        query = np.asarray(embedding, dtype=np.float32).reshape(-1)
        # The inner query is what the index answers (ORDER BY distance LIMIT k); relaxed_order
        # scans may return those rows slightly out of order, so the outer query sorts them.
        statement = sql.SQL(
            "WITH nearest AS MATERIALIZED ("
            " SELECT id, text, metadata, embedding <=> %(vector)s AS distance FROM {table} WHERE {condition}"
            " ORDER BY distance LIMIT %(k)s)"
            " SELECT id, text, metadata, 1 - distance FROM nearest ORDER BY distance, id"
        ).format(table=self._table, condition=condition)
        with self._transaction() as cur:
            self._search_settings(cur, k)
            rows = cur.execute(statement, {"vector": query, "k": k, **params}).fetchall()
        return [Hit(id=i, text=t, metadata=m, score=float(s), rank=r)
                for r, (i, t, m, s) in enumerate(rows, start=1)]

    def keyword_search(self, query: str, k: int, where: Filter | None = None) -> list[Hit]:
        """The k best chunks by BM25 (bm25s's "lucene" scores), filter applied before ranking."""
        terms = self._analyzer.terms(query)
        if k <= 0 or not terms:
            return []
        self._ensure_keyword_index(log_progress)
        condition, params = filter_sql(where)
        statement = pg_bm25.score_statement(self._table_name, REGISTRY, condition,
                                            filtered=where is not None and not where.is_empty())
        params.update(name=self.name, terms=terms, k1=self.keyword_settings.k1, b=self.keyword_settings.b, k=k)
        with self._transaction() as cur:
            rows = cur.execute(statement, params).fetchall()
        return [Hit(id=i, text=t, metadata=m, score=float(s), rank=r)
                for r, (i, t, m, s) in enumerate(rows, start=1)]


def log_progress(event: ProgressEvent) -> None:
    """Progress of work a search started (building an old collection's BM25 statistics), for the log."""
    if event.total:
        log.info("%s of %s: %d/%d chunks", event.stage, event.detail, event.done, event.total)


class PgVectorStore:
    read_only = False  # this tool's own tables
    """Collections in one PostgreSQL database (with the pgvector extension)."""

    def __init__(self, url: str, index: VectorIndex | None = None):
        self.url = url
        conninfo, url_index, shown = split_url(url)
        self.index = index or url_index
        self._db = Database(conninfo, shown)
        with self._db.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])
            cur.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " name text PRIMARY KEY, table_name text NOT NULL UNIQUE,"
                " embedder text NOT NULL, dimension int NOT NULL,"
                " index_kind text NOT NULL, index_params jsonb NOT NULL,"
                " created timestamptz NOT NULL DEFAULT now())").format(REGISTRY))
            # Updated in the transaction of every write: the collection's version, and its BM25
            # statistics (chunks and their total length in terms; keyword_index names the analyzer
            # of complete postings, NULL before they are built). Registries made before get the columns here.
            cur.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0, "
                                "ADD COLUMN IF NOT EXISTS keyword_index text, "
                                "ADD COLUMN IF NOT EXISTS keyword_chunks bigint NOT NULL DEFAULT 0, "
                                "ADD COLUMN IF NOT EXISTS keyword_length bigint NOT NULL DEFAULT 0, "
                                "ADD COLUMN IF NOT EXISTS pending text, "
                                "ADD COLUMN IF NOT EXISTS expected_rows bigint").format(REGISTRY))
            # A registry from before expected_rows: each collection's count as it is now is the start.
            for name, table in cur.execute(sql.SQL("SELECT name, table_name FROM {} WHERE expected_rows IS NULL")
                                           .format(REGISTRY)).fetchall():
                cur.execute(sql.SQL("UPDATE {} SET expected_rows = (SELECT count(*) FROM {}) WHERE name = %s")
                            .format(REGISTRY, sql.Identifier(table)), [name])

    def _entry(self, cur: psycopg.Cursor, name: str) -> tuple[str, EmbedderInfo, VectorIndex]:
        row = cur.execute(sql.SQL("SELECT table_name, embedder, dimension, index_kind, index_params FROM {} "
                                  "WHERE name = %s").format(REGISTRY), [name]).fetchone()
        if row is None:
            raise CollectionNotFound(f"no collection named '{name}' in {self._db.shown}")
        table, embedder, dimension, kind, params = row
        settings = {k: v for k, v in params.items() if k in ("m", "ef_construction", "lists")}
        return table, EmbedderInfo(embedder, dimension), VectorIndex(kind=kind, **settings)

    def list_collections(self) -> list[CollectionInfo]:
        with self._db.transaction() as cur:
            entries = cur.execute(sql.SQL("SELECT name, table_name, embedder, dimension FROM {} ORDER BY name")
                                  .format(REGISTRY)).fetchall()
            infos = [CollectionInfo(name=name, embedder=EmbedderInfo(embedder, dimension),
                                    count=scalar(cur, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))))
                     for name, table, embedder, dimension in entries]
        return sorted(infos, key=lambda info: info.name)

    def collection_embedder(self, name: str) -> EmbedderInfo:
        with self._db.transaction() as cur:
            return self._entry(cur, name)[1]

    def open_collection(self, name: str, embedder: EmbedderInfo, create: bool = True) -> PgVectorCollection:
        check_collection_name(name)
        with self._db.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])
            try:
                table, stored, index = self._entry(cur, name)
            except CollectionNotFound:
                if not create:
                    raise
                table, stored, index = table_name(name), embedder, self.index
                if scalar(cur, "SELECT to_regclass(%s) IS NOT NULL", [sql.Identifier(table).as_string(cur)]):
                    # the name's table is held by another collection (a repaired one keeps its spare's table)
                    table = table_name(f"{name}-{uuid.uuid4().hex[:8]}")
                self._create_table(cur, name, table, embedder, index)
        check_same_embedder(name, stored, embedder)
        collection = PgVectorCollection(self._db, name, table, stored, index)
        collection.ensure_vector_index()  # also after a bulk write that died before building it
        return collection

    @staticmethod
    def _create_table(cur: psycopg.Cursor, name: str, table: str, embedder: EmbedderInfo,
                      index: VectorIndex) -> None:
        ident = sql.Identifier(table)
        cur.execute(sql.SQL(
            "CREATE TABLE {table} ("
            " id text PRIMARY KEY, text text NOT NULL, source text NOT NULL,"
            " category text NOT NULL DEFAULT '', document text NOT NULL DEFAULT '',"
            " chunk_index int NOT NULL, start_char int NOT NULL, end_char int NOT NULL,"
            " metadata jsonb NOT NULL, embedding vector({dimension}) NOT NULL)"
        ).format(table=ident, dimension=sql.Literal(embedder.dimension)))
        for column in ("source", "category"):
            cur.execute(sql.SQL("CREATE INDEX {} ON {} ({})").format(
                sql.Identifier(f"{table}_{column}"), ident, sql.Identifier(column)))
        for statement in pg_bm25.create_postings(table):
            cur.execute(statement)
        # The vector index is PgVectorCollection.ensure_vector_index's (IVFFlat's lists need rows first).
        settings = {k: v for k, v in asdict(index).items() if k != "kind"}
        cur.execute(sql.SQL("INSERT INTO {} (name, table_name, embedder, dimension, index_kind, index_params, "
                            "keyword_index, expected_rows) VALUES (%s, %s, %s, %s, %s, %s, %s, 0)").format(REGISTRY),
                    [name, table, embedder.name, embedder.dimension, index.kind, Jsonb(settings),
                     pg_bm25.analyzer_key(BM25Settings())])

    def delete_collection(self, name: str) -> None:
        with self._db.transaction() as cur:
            self._drop(cur, name)

    def _drop(self, cur: psycopg.Cursor, name: str) -> None:
        table = self._entry(cur, name)[0]
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}, {}").format(
            sql.Identifier(table), pg_bm25.postings_table(table), pg_bm25.frequencies_table(table)))
        cur.execute(sql.SQL("DELETE FROM {} WHERE name = %s").format(REGISTRY), [name])

    def replace_collection(self, spare: str, name: str) -> None:
        """One transaction: `name` dropped, `spare` renamed to it (its table keeps its own name)."""
        with self._db.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])
            self._entry(cur, spare)  # CollectionNotFound if there is nothing to swap in
            # Past both versions: a cache keyed by the old collection's version must not take the new one for it.
            version = scalar(cur, sql.SQL("SELECT max(version) + 1 FROM {} WHERE name IN (%s, %s)").format(REGISTRY),
                             [name, spare])
            if scalar(cur, sql.SQL("SELECT 1 FROM {} WHERE name = %s").format(REGISTRY), [name]):
                self._drop(cur, name)
            cur.execute(sql.SQL("UPDATE {} SET name = %s, pending = NULL, version = %s WHERE name = %s")
                        .format(REGISTRY), [name, version, spare])
        write_step()

    def pending_marks(self) -> dict[str, str]:
        with self._db.transaction() as cur:
            return dict(cur.execute(sql.SQL("SELECT name, pending FROM {} WHERE pending IS NOT NULL")
                                    .format(REGISTRY)).fetchall())
