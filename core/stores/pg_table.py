"""Someone else's pgvector table, opened read-only as one collection.

Analysts' RAG systems keep vectors in tables of their own: any schema, any
names. `postgresql://HOST/DB?table=public.items&vector=embedding&text=body`
opens such a table as a collection named after it, with `id` (default: the
primary key), `category` and `metadata` (comma-separated columns) naming the
rest, and `model` naming the model that made the vectors when it is one this
app runs. `vector_tables` reads the catalog, so a picker can offer the tables
that have a vector column and the columns of each, and `table_url` writes the
URL of the columns picked (a blank `text=` says the table has no text to show).

Nothing is written to the database: no table, index, extension or row of ours.
Maps, clusters and near-duplicates work from the stored vectors; vector search
runs the table's own index; keyword search is BM25 (bm25s, the same analyser
and k1/b as every store) over the table's text, built in memory and rebuilt
when the table's version changes. The version comes from PostgreSQL's own
statistics of the table (rows inserted, updated, deleted), so it moves with
every write the database has counted.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import bm25s
import numpy as np
import psycopg
from psycopg import sql

from ..errors import CollectionNotFound, EmbedderMismatch, ExplorerError, ReadOnlyCollection, StoreUnavailable
from ..keyword import Analyzer, BM25Settings
from ..types import (CollectionInfo, DocumentCount, EmbedderInfo, Filter, Hit, Metadata, ProgressCallback,
                     SourceInfo, no_progress)
from .base import PAGE_SIZE, READ_ALL_PAGE, StoredChunks, count_documents, sources_of

VECTOR_TYPES = ("vector", "halfvec")  # pgvector's dense types; halfvec stores 16-bit floats, half the space
TABLE_PARAMS = ("table", "vector", "text", "id", "category", "metadata", "model")
NOT_LIBPQ = (*TABLE_PARAMS, "index")  # ours, never passed on to libpq (index= is for our own collections)


@dataclass(frozen=True)
class TableColumns:
    """Which of a foreign table's columns hold what."""

    schema: str
    table: str
    vector: str
    text: str | None
    id: str
    category: str | None
    metadata: tuple[str, ...]
    vector_type: str = "vector"  # or "halfvec": what a query vector is cast to


@dataclass(frozen=True)
class VectorTable:
    """A table with at least one vector column, as the catalog describes it."""

    schema: str
    table: str
    vector_columns: dict[str, int]  # name -> dimension (0 when the column has no fixed size)
    text_columns: tuple[str, ...]
    other_columns: tuple[str, ...]
    primary_key: str | None
    vector_types: dict[str, str] = field(default_factory=dict)  # name -> "vector" or "halfvec"


def is_table_url(url: str) -> bool:
    return any(key == "table" for key, _ in parse_qsl(urlsplit(url).query))


def _split(url: str) -> tuple[str, dict[str, str]]:
    """The connection URL libpq takes, and our parameters (kept when blank: `text=` means no text)."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in params if k in TABLE_PARAMS}
    libpq = [(k, v) for k, v in params if k not in NOT_LIBPQ and v]
    return urlunsplit(parts._replace(query=urlencode(libpq))), ours


def table_url(base_url: str, columns: TableColumns, model: str | None = None) -> str:
    """The URL that opens `columns` of a table in the database of `base_url` (whose own table
    parameters, if any, are replaced; its connection parameters are kept)."""
    if "." in columns.table:
        raise ExplorerError(f"the table name '{columns.table}' holds a dot, which table=schema.table cannot say; "
                            "copy it into a collection of ours (`python -m core copy`) or rename it")
    if any("," in m for m in columns.metadata):
        raise ExplorerError(f"metadata column names cannot hold commas: {', '.join(columns.metadata)}")
    conninfo, _ = _split(base_url)
    parts = urlsplit(conninfo)
    ours = [("table", f"{columns.schema}.{columns.table}"), ("vector", columns.vector), ("text", columns.text or ""),
            ("id", columns.id)]
    ours += [(key, value) for key, value in (("category", columns.category), ("metadata", ",".join(columns.metadata)),
                                             ("model", model)) if value]
    return urlunsplit(parts._replace(query=urlencode([*parse_qsl(parts.query), *ours])))


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"


def _catalog(conn: psycopg.Connection) -> list[tuple]:
    """(schema, table, column, type, typmod, single-column primary key) of every user relation's columns."""
    return conn.execute(
        "SELECT n.nspname, c.relname, a.attname, t.typname, a.atttypmod,"
        "       (SELECT pa.attname FROM pg_index i JOIN pg_attribute pa"
        "          ON pa.attrelid = i.indrelid AND pa.attnum = i.indkey[0]"
        "        WHERE i.indrelid = c.oid AND i.indisprimary AND i.indnatts = 1)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " JOIN pg_type t ON t.oid = a.atttypid"
        " WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        " ORDER BY n.nspname, c.relname, a.attnum").fetchall()


def vector_tables(url: str) -> list[VectorTable]:
    """Every table in the database with a pgvector column, from the catalog (nothing is created)."""
    conninfo, _ = _split(url)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            rows = _catalog(conn)
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreUnavailable(f"cannot read the tables of PostgreSQL at {_shown(url)}: {first_line}") from exc
    tables: dict[tuple[str, str], dict[str, Any]] = {}
    for schema, table, column, type_name, typmod, primary_key in rows:
        entry = tables.setdefault((schema, table), {"vectors": {}, "types": {}, "texts": [], "others": [],
                                                    "pk": primary_key})
        if type_name in VECTOR_TYPES:
            entry["vectors"][column] = max(int(typmod), 0)
            entry["types"][column] = type_name
        elif type_name in ("text", "varchar", "bpchar"):
            entry["texts"].append(column)
        else:
            entry["others"].append(column)
    return [VectorTable(schema, table, e["vectors"], tuple(e["texts"]), tuple(e["others"]), e["pk"], e["types"])
            for (schema, table), e in tables.items() if e["vectors"]]


class PgTableCollection:
    """One foreign table, read-only (see the module docstring)."""

    read_only = True

    def __init__(self, store: PgTableStore, columns: TableColumns, embedder: EmbedderInfo):
        self._store, self._c = store, columns
        self.name = columns.table
        self.embedder = embedder
        self._table = sql.Identifier(columns.schema, columns.table)
        self._keyword: tuple[str, bm25s.BM25 | None, StoredChunks] | None = None
        self._analyzer = Analyzer(BM25Settings())  # one per collection: it remembers each word's stem
        self._keyword_lock = threading.Lock()

    # -- what a row is -----------------------------------------------------------------------------
    def _row_sql(self, with_vectors: bool) -> sql.Composable:
        c = self._c
        text = sql.SQL("coalesce({}::text, '')").format(sql.Identifier(c.text)) if c.text else sql.SQL("''")
        category = sql.SQL("coalesce({}::text, '')").format(sql.Identifier(c.category)) if c.category \
            else sql.SQL("''")
        metadata = sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(
            sql.SQL("{}, {}").format(sql.Literal(m), sql.Identifier(m)) for m in c.metadata)) if c.metadata \
            else sql.SQL("'{}'::jsonb")
        parts = [sql.SQL("{}::text").format(sql.Identifier(c.id)), text, category, metadata]
        if with_vectors:
            parts.append(sql.Identifier(c.vector))
        # Named apart from the table's columns, so ORDER BY the id column means the column, not its text.
        return sql.SQL(", ").join(sql.SQL("{} AS {}").format(p, sql.Identifier(f"explorer_{n}"))
                                  for n, p in enumerate(parts))

    def _filter(self, where: Filter | None) -> tuple[sql.Composable, dict[str, Any]]:
        conditions: list[sql.Composable] = [sql.SQL("{} IS NOT NULL").format(sql.Identifier(self._c.vector))]
        params: dict[str, Any] = {}
        if where is not None and where.categories and self._c.category:
            conditions.append(sql.SQL("{}::text = ANY(%(categories)s)").format(sql.Identifier(self._c.category)))
            params["categories"] = list(where.categories)
        if where is not None and where.sources:
            conditions.append(sql.SQL("%(source)s = ANY(%(sources)s)"))
            params.update(source=self.name, sources=list(where.sources))
        return sql.SQL(" AND ").join(conditions), params

    def _rows(self, rows: list[tuple], with_vectors: bool) -> StoredChunks:
        metadatas: list[Metadata] = []
        for _, _, category, extra, *_ in rows:
            metadata = {k: v if isinstance(v, (str, int, float, bool)) else str(v)
                        for k, v in (extra or {}).items() if v is not None}
            metadata.update(source=self.name, category=category)
            metadatas.append(metadata)
        embeddings = None
        if with_vectors:
            embeddings = (np.stack([np.asarray(r[4].to_numpy(), np.float32) for r in rows]) if rows
                          else np.zeros((0, self.embedder.dimension), np.float32))
        return StoredChunks([r[0] for r in rows], [r[1] for r in rows], metadatas, embeddings)

    # -- reading -----------------------------------------------------------------------------------
    def count(self) -> int:
        condition, params = self._filter(None)
        with self._store.cursor() as cur:
            return int(cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self._table, condition),
                                   params).fetchone()[0])

    def version(self) -> str:
        with self._store.cursor() as cur:
            row = cur.execute("SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
                              "WHERE schemaname = %s AND relname = %s", [self._c.schema, self._c.table]).fetchone()
        return "-".join(map(str, row or ())) + f"/{self.count()}"

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        return set(self.get(ids=ids).ids)

    def document_counts(self, progress: ProgressCallback = no_progress) -> list[DocumentCount]:
        return count_documents(self.iter_pages(page_size=READ_ALL_PAGE), self.count(), progress)

    def sources(self) -> list[SourceInfo]:
        return sources_of(self.document_counts())

    def categories(self) -> list[str]:
        if not self._c.category:
            return []
        with self._store.cursor() as cur:
            rows = cur.execute(sql.SQL("SELECT DISTINCT {0}::text FROM {1} WHERE {0} IS NOT NULL").format(
                sql.Identifier(self._c.category), self._table)).fetchall()
        return sorted(r[0] for r in rows if r[0])

    def get(self, where: Filter | None = None, include_embeddings: bool = False,
            limit: int | None = None, ids: Sequence[str] | None = None) -> StoredChunks:
        condition, params = self._filter(where)
        if ids is not None:
            condition = sql.SQL("{} AND {}::text = ANY(%(ids)s)").format(condition, sql.Identifier(self._c.id))
            params["ids"] = list(ids)
        query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {}").format(
            self._row_sql(include_embeddings), self._table, condition, sql.Identifier(self._c.id))
        if limit is not None:
            query = sql.SQL("{} LIMIT %(limit)s").format(query)
            params["limit"] = limit
        with self._store.cursor() as cur:
            return self._rows(cur.execute(query, params).fetchall(), include_embeddings)

    def iter_pages(self, where: Filter | None = None, include_embeddings: bool = False,
                   page_size: int = PAGE_SIZE) -> Iterator[StoredChunks]:
        condition, params = self._filter(where)
        key = sql.Identifier(self._c.id)
        after: Any = None
        while True:
            page_condition = condition if after is None else sql.SQL("{} AND {} > %(after)s").format(condition, key)
            query = sql.SQL("SELECT {}, {} FROM {} WHERE {} ORDER BY {} LIMIT %(limit)s").format(
                self._row_sql(include_embeddings), key, self._table, page_condition, key)
            with self._store.cursor() as cur:
                rows = cur.execute(query, {**params, "after": after, "limit": page_size}).fetchall()
            if not rows:
                return
            yield self._rows([r[:-1] for r in rows], include_embeddings)
            after = rows[-1][-1]

    def vector_search(self, embedding: np.ndarray, k: int, where: Filter | None = None) -> list[Hit]:
        if k <= 0:
            return []
        condition, params = self._filter(where)
        # Cast to the column's own type, so `<=>` is the operator its index serves.
        query = sql.SQL("SELECT {}, {} <=> %(vector)s::{} AS distance FROM {} WHERE {} ORDER BY distance "
                        "LIMIT %(k)s").format(self._row_sql(False), sql.Identifier(self._c.vector),
                                              sql.Identifier(self._c.vector_type), self._table, condition)
        from pgvector import Vector

        with self._store.cursor() as cur:
            rows = cur.execute(query, {**params, "vector": Vector(np.asarray(embedding, np.float32).ravel()),
                                       "k": k}).fetchall()
        found = self._rows([r[:4] for r in rows], False)
        return [Hit(i, t, m, 1.0 - float(r[4]), rank) for rank, (i, t, m, r)
                in enumerate(zip(found.ids, found.texts, found.metadatas, rows), start=1)]

    def keyword_search(self, query: str, k: int, where: Filter | None = None) -> list[Hit]:
        version, model, rows = self._keyword_index()
        terms = [t for t in self._analyzer.terms(query) if model is not None and t in model.vocab_dict]
        if not terms or k <= 0:
            return []
        mask = None
        if where is not None and not where.is_empty():
            allowed = [(not where.categories or m.get("category") in where.categories) and
                       (not where.sources or m.get("source") in where.sources) for m in rows.metadatas]
            mask = np.asarray(allowed, dtype=np.float32)
        scores = model.get_scores(terms, weight_mask=mask)
        best = [int(i) for i in np.argsort(-scores, kind="stable")[:k] if scores[i] > 0]
        return [Hit(rows.ids[i], rows.texts[i], rows.metadatas[i], float(scores[i]), rank)
                for rank, i in enumerate(best, start=1)]

    def _keyword_index(self) -> tuple[str, bm25s.BM25 | None, StoredChunks]:
        """BM25 over the table's text, kept in memory and rebuilt when the table's version moves."""
        version = self.version()
        with self._keyword_lock:
            if self._keyword is None or self._keyword[0] != version:
                rows = StoredChunks.concat(list(self.iter_pages()), self.embedder.dimension, False)
                model = None
                corpus = self._analyzer.corpus(rows.texts)
                if corpus[1]:  # no words at all (no text column, or empty texts): nothing a keyword finds
                    settings = BM25Settings()
                    model = bm25s.BM25(k1=settings.k1, b=settings.b, method="lucene", csc_backend="scipy")
                    model.index(corpus, show_progress=False)
                self._keyword = (version, model, rows)
            return self._keyword

    # -- writing: refused --------------------------------------------------------------------------
    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise ReadOnlyCollection(f"'{self.name}' is a table of another application in {self._store.shown}: this app only "
                       "reads it. Copy it into a collection of ours (`python -m core copy`) to change it")

    upsert = delete_ids = delete_source = set_pending = _refuse

    @staticmethod
    def pending() -> None:
        return None  # nothing of ours is ever begun on it

    @staticmethod
    def expected_rows() -> None:
        return None  # its rows are its owner's to count

    @contextmanager
    def bulk_write(self, rows: int) -> Iterator[None]:
        self._refuse()
        yield

    def sync_keyword_index(self) -> None:
        """Nothing to keep in step: the keyword index follows the table's version when searched."""


class PgTableStore:
    """A store of exactly one collection: the table the URL names."""

    read_only = True  # another application's table

    def __init__(self, url: str):
        self.url = url
        self.shown = _shown(url)
        conninfo, params = _split(url)
        self._conninfo = conninfo
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        schema, _, table = params["table"].rpartition(".")
        schema = schema or "public"
        found = {(t.schema, t.table): t for t in vector_tables(url)}
        info = found.get((schema, table))
        if info is None:
            raise CollectionNotFound(f"no table {schema}.{table} with a vector column in {self.shown}; tables with "
                                     f"one: {', '.join(f'{s}.{t}' for s, t in found) or 'none'}")
        vector = params.get("vector") or (next(iter(info.vector_columns)) if len(info.vector_columns) == 1 else "")
        if vector not in info.vector_columns:
            raise ExplorerError(f"name the vector column of {schema}.{table} with vector=: one of "
                                f"{', '.join(info.vector_columns)}")
        known = set(info.text_columns) | set(info.other_columns) | set(info.vector_columns)
        metadata = tuple(m for m in params.get("metadata", "").split(",") if m)
        for column in (params.get("text"), params.get("id"), params.get("category"), *metadata):
            if column and column not in known:
                raise ExplorerError(f"{schema}.{table} has no column '{column}'; it has: {', '.join(sorted(known))}")
        key = params.get("id") or info.primary_key
        if not key:
            raise ExplorerError(f"{schema}.{table} has no single-column primary key: name a unique column with id=")
        # No text= : the table's only text column, if it has one; a blank text= : no text.
        text = (params["text"] or None) if "text" in params else \
            (info.text_columns[0] if len(info.text_columns) == 1 else None)
        self.columns = TableColumns(schema, table, vector, text, key, params.get("category") or None, metadata,
                                    info.vector_types.get(vector, "vector"))
        dimension = info.vector_columns[vector] or self._dimension()
        from ..embedders import imported_embedder  # the same naming as imported files

        self.embedder = imported_embedder(params.get("model"), dimension)

    def _dimension(self) -> int:
        with self.cursor() as cur:
            row = cur.execute(sql.SQL("SELECT vector_dims({0}) FROM {1} WHERE {0} IS NOT NULL LIMIT 1").format(
                sql.Identifier(self.columns.vector), sql.Identifier(self.columns.schema, self.columns.table))
            ).fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def cursor(self) -> Iterator[psycopg.Cursor]:
        """A read-only transaction: even a bug here cannot write to someone else's table."""
        with self._lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                from pgvector.psycopg import register_vector

                self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10)
                register_vector(self._conn)
            with self._conn.transaction(), self._conn.cursor(binary=True) as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                yield cur

    def list_collections(self) -> list[CollectionInfo]:
        collection = self._open()
        return [CollectionInfo(collection.name, self.embedder, collection.count())]

    def collection_embedder(self, name: str) -> EmbedderInfo:
        self._check_name(name)
        return self.embedder

    def _check_name(self, name: str) -> None:
        if name != self.columns.table:
            raise CollectionNotFound(f"this store is the table {self.columns.table}; there is no '{name}'")

    def _open(self) -> PgTableCollection:
        return PgTableCollection(self, self.columns, self.embedder)

    def open_collection(self, name: str, embedder: EmbedderInfo, create: bool = True) -> PgTableCollection:
        self._check_name(name)
        if embedder.dimension != self.embedder.dimension:
            raise EmbedderMismatch(f"{self.columns.table}.{self.columns.vector} holds {self.embedder.dimension}-"
                                   f"dimensional vectors, not {embedder.dimension}")
        return self._open()

    def delete_collection(self, name: str) -> None:
        self._open()._refuse()

    def replace_collection(self, spare: str, name: str) -> None:
        self._open()._refuse()

    @staticmethod
    def pending_marks() -> dict[str, str]:
        return {}

