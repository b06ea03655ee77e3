"""A pgvector table made by plain SQL, as another application would, opened read-only."""
from __future__ import annotations

import uuid

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from core.errors import ExplorerError
from core.projection import ProjectionSettings, load_points, project
from core.search import search
from core.stores import open_store
from core.errors import ReadOnlyCollection
from core.stores.pg_table import vector_tables
from core.types import Filter
from core.workspace import open_workspace, with_query_embedder
from test_cli import cli

pytestmark = pytest.mark.postgres


def snapshot(conn: psycopg.Connection, table: str) -> tuple:
    """Everything a reader could have changed: the catalog's relations, and the table's rows."""
    relations = conn.execute("SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
                             "ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', "
                             "'pg_toast') ORDER BY 1, 2").fetchall()
    rows = conn.execute(f'SELECT item_id, body, label, year, embedding::text FROM app."{table}" '
                        "ORDER BY item_id").fetchall()
    return relations, rows


@pytest.fixture
def foreign_table(postgres_url, long_docs_corpus):
    """A table in a schema of its own, with its own names for everything and an HNSW index."""
    table = f"items_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("CREATE SCHEMA IF NOT EXISTS app")
        conn.execute(f'CREATE TABLE app."{table}" (item_id bigint PRIMARY KEY, body text, label text, '
                     "year int, embedding vector(384))")
        conn.execute(f'CREATE INDEX ON app."{table}" USING hnsw (embedding vector_cosine_ops)')
        with conn.cursor() as cur:
            cur.executemany(f'INSERT INTO app."{table}" VALUES (%s, %s, %s, %s, %s)',
                            [(n, c.text, c.metadata["category"], 1800 + n, long_docs_corpus.embeddings[n])
                             for n, c in enumerate(long_docs_corpus.chunks)])
        before = snapshot(conn, table)
    yield table, f"{postgres_url}?table=app.{table}&text=body&category=label&metadata=year", before
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP TABLE app."{table}"')


def test_catalog_lists_the_table_with_its_columns(postgres_url, foreign_table):
    table = next(t for t in vector_tables(postgres_url) if t.table == foreign_table[0])
    assert table.schema == "app" and table.vector_columns == {"embedding": 384}
    assert "body" in table.text_columns and table.primary_key == "item_id"


def test_foreign_table_maps_and_searches_and_stays_as_it_was(postgres_url, foreign_table, long_docs_corpus):
    table, url, before = foreign_table
    store = open_store(url)
    assert [c.name for c in store.list_collections()] == [table]
    workspace = open_workspace(store, table)
    collection = workspace.collection
    assert collection.count() == len(long_docs_corpus.chunks)
    assert set(collection.categories()) == {c.metadata["category"] for c in long_docs_corpus.chunks}
    points = load_points(collection)
    assert project(points.chunks.embeddings, ProjectionSettings(method="pca")).coords.shape[0] == collection.count()
    first = collection.get(ids=["0"], include_embeddings=True)
    np.testing.assert_allclose(first.embeddings[0], long_docs_corpus.embeddings[0], atol=1e-6)
    assert first.metadatas[0]["year"] == 1800
    # Nearest stored chunks of a stored chunk, from the vectors alone.
    assert collection.vector_search(first.embeddings[0], 3)[0].id == "0"
    hits = search(collection, workspace.embedder, "Elizabeth Darcy", mode="keyword", k=5)
    assert hits and all("Elizabeth" in h.text or "Darcy" in h.text for h in hits)
    filtered = search(collection, workspace.embedder, "block quote", mode="keyword", k=5,
                      where=Filter(categories=("spec",)))
    assert filtered and all(h.metadata["category"] == "spec" for h in filtered)
    searchable = with_query_embedder(workspace, "minilm")
    assert search(searchable.collection, searchable.embedder, "the creature", mode="hybrid", k=3)
    with pytest.raises(ReadOnlyCollection, match="only reads"):
        collection.delete_ids(["0"])
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert snapshot(conn, table) == before


def test_cli_reads_the_table_and_says_what_is_missing(postgres_url, foreign_table):
    table, url, _ = foreign_table
    listed = cli("collections", "--store", url).stdout
    assert table in listed
    proc = cli("collections", "--store", f"{postgres_url}?table=app.{table}&text=nope", check=False)
    assert proc.returncode == 1 and "has no column 'nope'" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("collections", "--store", f"{postgres_url}?table=app.missing_table", check=False)
    assert proc.returncode == 1 and "no table app.missing_table" in proc.stderr


def test_writes_are_refused_with_a_way_forward(foreign_table):
    table, url, _ = foreign_table
    with pytest.raises(ExplorerError, match="python -m core copy"):
        open_store(url).delete_collection(table)
