"""A pgvector table made by plain SQL, as another application would, opened read-only."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import ExplorerError, ReadOnlyCollection, StoreUnavailable
from core.projection import ProjectionSettings, load_points, project
from core.search import search
from core.stores import open_store
from core.stores.pg_table import TableColumns, table_url, vector_tables
from core.types import Filter
from core.workspace import open_workspace, with_query_embedder
from test_cli import cli

pytestmark = pytest.mark.postgres


def test_catalog_lists_the_table_with_its_columns(foreign_table):
    [table] = vector_tables(foreign_table.database_url)
    assert table.table == foreign_table.table
    assert table.schema == "app" and table.vector_columns == {"embedding": 384}
    assert "body" in table.text_columns and table.primary_key == "item_id"


def test_foreign_table_maps_and_searches_and_stays_as_it_was(foreign_table, long_docs_corpus):
    table = foreign_table.table
    store = open_store(foreign_table.url)
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
    assert foreign_table.snapshot() == foreign_table.before


def test_cli_reads_the_table_and_says_what_is_missing(foreign_table):
    table, database = foreign_table.table, foreign_table.database_url
    listed = cli("collections", "--store", foreign_table.url).stdout
    assert table in listed
    proc = cli("collections", "--store", f"{database}?table=app.{table}&text=nope", check=False)
    assert proc.returncode == 1 and "has no column 'nope'" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("collections", "--store", f"{database}?table=app.missing_table", check=False)
    assert proc.returncode == 1 and "no table app.missing_table" in proc.stderr


def test_writes_are_refused_with_a_way_forward(foreign_table):
    with pytest.raises(ExplorerError, match="python -m core copy"):
        open_store(foreign_table.url).delete_collection(foreign_table.table)


def test_table_url_round_trips_through_the_parser(foreign_table, long_docs_corpus):
    """What the sidebar picks is what the store opens, including "no text" and a password kept in the URL."""
    database = foreign_table.database_url
    picks = [TableColumns("app", foreign_table.table, "embedding", "body", "item_id", "label", ("year",)),
             TableColumns("app", foreign_table.table, "embedding", None, "body", None, ()),
             TableColumns("app", foreign_table.table, "embedding", "label", "year", "body", ("item_id", "label"))]
    for columns in picks:
        store = open_store(table_url(f"{database}?index=hnsw&table=app.other&text=x", columns))
        assert store.columns == columns
        assert store.embedder.name == "imported:unknown"
    assert open_store(table_url(database, picks[0], "minilm")).embedder.name == "minilm"
    # A table whose only text column would be taken by default: "no text" survives the round trip.
    foreign_table.add_loose_table()
    loose = TableColumns("app", "loose", "v", None, "n", None, ())
    assert open_store(table_url(database, loose)).columns == loose
    assert open_store(f"{database}?table=app.loose&id=n").columns.text == "name"
    assert store.list_collections()[0].count == len(long_docs_corpus.chunks)
    url = table_url("postgresql://me:p%40ss@db.example:6543/app?sslmode=require", picks[0])
    assert url.startswith("postgresql://me:p%40ss@db.example:6543/app?sslmode=require&table=app.")
    with pytest.raises(ExplorerError, match="dot"):
        table_url(database, TableColumns("app", "a.b", "embedding", None, "item_id", None, ()))


def test_an_unreachable_database_is_a_clear_error():
    with pytest.raises(StoreUnavailable, match="cannot read the tables of PostgreSQL at 127.0.0.1:1/x") as raised:
        vector_tables("postgresql://me:s3cr3t@127.0.0.1:1/x")
    assert "s3cr3t" not in str(raised.value)


def test_a_halfvec_table_is_searched_through_its_own_index(foreign_table, long_docs_corpus):
    """halfvec (16-bit floats) is pgvector's half-size type: listed, read back as float32 close to what
    was stored, and searched with the query cast to halfvec, the operator its HNSW index serves."""
    name = foreign_table.add_halfvec_table(long_docs_corpus)
    table = {f"{t.schema}.{t.table}": t for t in vector_tables(foreign_table.database_url)}[name]
    assert table.vector_columns == {"emb": 384} and table.vector_types == {"emb": "halfvec"}
    # Two text columns (doc_id, content): none is taken unless named, and a keyword search finds nothing.
    untitled = open_workspace(f"{foreign_table.database_url}?table={name}", "half").collection
    assert untitled.keyword_search("Elizabeth", 5) == [] and untitled.count() == len(long_docs_corpus.chunks)
    workspace = open_workspace(f"{foreign_table.database_url}?table={name}&text=content&model=minilm", "half")
    stored = workspace.collection.get(include_embeddings=True)
    order = np.argsort([int(i[1:]) for i in stored.ids])
    assert np.abs(stored.embeddings[order] - long_docs_corpus.embeddings).max() < 1e-3
    n = 7
    hits = workspace.collection.vector_search(long_docs_corpus.embeddings[n], 3)
    assert hits[0].id == f"d{n}" and hits[0].score == pytest.approx(1.0, abs=1e-3)
    query = long_docs_corpus.chunks[n].text[:200]
    assert search(workspace.collection, workspace.embedder, query, mode="hybrid", k=5)[0].id == f"d{n}"
    with open_store(foreign_table.url).cursor() as cur:  # the halfvec index serves that cast
        # A table of a few hundred rows may rightly be scanned once autovacuum has counted it: with scans made
        # the last resort, the planner takes the index only where its operator class serves the query's operator.
        cur.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in cur.execute(
            "EXPLAIN SELECT doc_id FROM app.half ORDER BY emb <=> %s::halfvec LIMIT 3",
            (str(long_docs_corpus.embeddings[n].tolist()),)).fetchall())
    assert "half_emb_idx" in plan
    assert foreign_table.snapshot()[3] == foreign_table.before[3]
