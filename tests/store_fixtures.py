"""Fixtures for tests that need real stores: a Chroma folder, a Chroma server started for the
session, PostgreSQL + pgvector from DATABASE_URL; and a small real corpus with MiniLM vectors.

PostgreSQL comes from `scripts/start-postgres.sh` (scripts/test.sh starts it). Without
DATABASE_URL its tests are skipped on a developer's machine but fail in CI (CI=true),
where a skipped pgvector test would hide a broken setup.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from urllib.parse import urlsplit

import numpy as np
import psycopg
import pytest
from pgvector import HalfVector
from pgvector.psycopg import register_vector

from conftest import LONG_DOCS, ROOT
from core.stores import Store, open_store
from core.types import Chunk, EmbedderInfo, content_hash

BACKENDS = ("chroma", "chroma-server", "pgvector")
# Paragraphs taken from each document, and its category. The spec is a small share of the
# rows on purpose: a filter on it leaves ~5% of the collection, where an index scan that
# filters afterwards would come back short.
CORPUS_PLAN = {"pg1342_pride_and_prejudice.txt": ("novel", 140), "pg84_frankenstein.txt": ("novel", 100),
               "commonmark_spec.txt": ("spec", 12)}
PARAGRAPH = re.compile(r"\S(?:.|\n(?!\s*\n))*", re.MULTILINE)  # runs of text between blank lines


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Corpus:
    """Real paragraphs from ../shared/corpora/long_docs with their MiniLM vectors, row-aligned."""

    chunks: list[Chunk]
    embeddings: np.ndarray
    embedder: EmbedderInfo

    def rows(self, predicate: Callable[[Chunk], bool]) -> list[int]:
        return [n for n, chunk in enumerate(self.chunks) if predicate(chunk)]


def paragraphs(path: Path, count: int, category: str) -> list[Chunk]:
    """`count` paragraphs of at least 200 characters from the body of a document, with exact spans."""
    text = path.read_text(encoding="utf-8")
    document = content_hash(text)
    body = PARAGRAPH.finditer(text, len(text) // 20)  # past the Project Gutenberg header
    spans = [(m.start(), m.end()) for m in body if len(m.group()) >= 200][:count]
    return [Chunk(id=content_hash(document, str(n)), text=text[start:end], source=path.name, start=start, end=end,
                  index=n, metadata={"source": path.name, "category": category, "document": document,
                                     "start": start, "end": end, "index": n, "chunking": "paragraph"})
            for n, (start, end) in enumerate(spans)]


@pytest.fixture(scope="session")
def long_docs_corpus(minilm) -> Corpus:
    chunks = [c for name, (category, count) in CORPUS_PLAN.items()
              for c in paragraphs(LONG_DOCS / name, count, category)]
    return Corpus(chunks=chunks, embeddings=minilm.embed([c.text for c in chunks]), embedder=minilm.info)


@pytest.fixture(scope="session")
def chroma_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Chroma server for this session, started and stopped by scripts/chroma-server.sh."""
    port = str(free_port())
    data = str(tmp_path_factory.mktemp("chroma-server"))
    script = str(ROOT / "scripts" / "chroma-server.sh")
    started = subprocess.run([script, "start", "--port", port, "--path", data],
                             capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        pytest.fail(f"could not start the Chroma server: {started.stderr}")
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([script, "stop", "--port", port, "--path", data], capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        message = "DATABASE_URL is not set: start PostgreSQL with `eval \"$(scripts/start-postgres.sh)\"`"
        if in_ci():
            pytest.fail(message + " (CI must run every pgvector test)")
        pytest.skip(message)
    return url


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a store of the kind the test is parametrised with (indirect)."""
    backend = request.param
    if backend == "chroma":
        return str(tmp_path / "chroma")
    if backend == "chroma-server":
        return request.getfixturevalue("chroma_server_url")
    return request.getfixturevalue("postgres_url")


def backends(*names: str) -> pytest.MarkDecorator:
    """Parametrise a test over store kinds, each with the marker that says what it needs."""
    marks = {"chroma": (), "chroma-server": (pytest.mark.chroma_server,), "pgvector": (pytest.mark.postgres,)}
    return pytest.mark.parametrize("store_url", [pytest.param(n, marks=marks[n], id=n) for n in names or BACKENDS],
                                   indirect=True)


@pytest.fixture
def new_name() -> Iterator[Callable[[Store], str]]:
    """Unique collection names, each deleted from its store when the test ends."""
    made: list[tuple[Store, str]] = []

    def make(store: Store) -> str:
        name = f"test-{uuid.uuid4().hex[:12]}"
        made.append((store, name))
        return name

    yield make
    for store, name in made:
        if name in {info.name for info in store.list_collections()}:
            store.delete_collection(name)


@pytest.fixture
def store(store_url: str) -> Store:
    return open_store(store_url)


@dataclass(frozen=True)
class ForeignTable:
    """A pgvector table made by plain SQL, as another application would, in a database of its own
    (so its whole catalog can be compared before and after, whatever else runs meanwhile)."""

    database_url: str
    table: str  # in schema app: item_id bigint PRIMARY KEY, body text, label text, year int, embedding vector(384)
    url: str  # the table URL naming its text, category and one metadata column
    before: tuple

    def add_loose_table(self, rows: int = 4) -> str:
        """app.loose beside the main table: one text column, no primary key, a vector column of no
        fixed size (as some pipelines make them); returns its name."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            register_vector(conn)
            conn.execute("CREATE TABLE app.loose (name text, n int, v vector)")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO app.loose VALUES (%s, %s, %s)",
                                [(f"row {n}", n, np.eye(rows, dtype=np.float32)[n]) for n in range(rows)])
        return "app.loose"

    def add_halfvec_table(self, corpus: Corpus) -> str:
        """app.half beside the main table: the corpus's vectors stored as halfvec (16-bit floats) with an
        HNSW index over them, as a table kept at half the size would be; returns its name."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            register_vector(conn)
            conn.execute("CREATE TABLE app.half (doc_id text PRIMARY KEY, content text, emb halfvec(384))")
            conn.execute("CREATE INDEX ON app.half USING hnsw (emb halfvec_cosine_ops)")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO app.half VALUES (%s, %s, %s)",
                                [(f"d{n}", c.text, HalfVector(corpus.embeddings[n]))
                                 for n, c in enumerate(corpus.chunks)])
        return "app.half"

    def snapshot(self) -> tuple:
        """Everything a reader could have changed: the catalog's schemas, relations and extensions,
        and the table's rows."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            schemas = conn.execute("SELECT nspname FROM pg_namespace ORDER BY 1").fetchall()
            relations = conn.execute(
                "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1, 2").fetchall()
            extensions = conn.execute("SELECT extname, extversion FROM pg_extension ORDER BY 1").fetchall()
            rows = conn.execute(f'SELECT item_id, body, label, year, embedding::text FROM app."{self.table}" '
                                "ORDER BY item_id").fetchall()
        return schemas, relations, extensions, rows


@pytest.fixture
def foreign_table(postgres_url: str, long_docs_corpus: Corpus) -> Iterator[ForeignTable]:
    """A table in a schema of its own, with its own names for everything and an HNSW index, holding
    the long-docs corpus with its MiniLM vectors (row n is chunk n), in a database made for the test."""
    database = f"foreign_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    database_url = urlsplit(postgres_url)._replace(path=f"/{database}").geturl()
    table = f"items_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION vector")
            register_vector(conn)
            conn.execute("CREATE SCHEMA app")
            conn.execute(f'CREATE TABLE app."{table}" (item_id bigint PRIMARY KEY, body text, label text, '
                         "year int, embedding vector(384))")
            conn.execute(f'CREATE INDEX ON app."{table}" USING hnsw (embedding vector_cosine_ops)')
            with conn.cursor() as cur:
                cur.executemany(f'INSERT INTO app."{table}" VALUES (%s, %s, %s, %s, %s)',
                                [(n, c.text, c.metadata["category"], 1800 + n, long_docs_corpus.embeddings[n])
                                 for n, c in enumerate(long_docs_corpus.chunks)])
        made = ForeignTable(database_url, table, f"{database_url}?table=app.{table}&text=body&category=label"
                                                 "&metadata=year", before=())
        yield replace(made, before=made.snapshot())
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')  # the app may still hold a connection
