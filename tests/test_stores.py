"""The Store contract, the same tests on every backend: a Chroma folder, a Chroma server and
PostgreSQL + pgvector, filled with real paragraphs of ../shared/corpora/long_docs embedded by
the real MiniLM. Then what only PostgreSQL has (IVFFlat, iterative index scans), copying
between stores, and hostile names, filters and servers that are down."""
from __future__ import annotations

import argparse
import uuid
from collections import Counter
from dataclasses import replace
from typing import Sequence
from urllib.parse import quote, urlencode

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from core.errors import CollectionNotFound, EmbedderMismatch, ExplorerError, StoreUnavailable
from core.stores import Collection, Store, open_store
from core.stores.transfer import copy_collection
from core.types import CollectionInfo, DocumentCount, EmbedderInfo, Filter, ProgressEvent, SourceInfo
from store_fixtures import Corpus, backends, free_port

pytest_plugins = ["store_fixtures"]

SPEC = "commonmark_spec.txt"
FRANKENSTEIN = "pg84_frankenstein.txt"
HOSTILE_VALUES = ("' OR 1=1 --", "x'); DELETE FROM chunks; --", '"; DROP TABLE explorer_collections; --')


def fill(store: Store, name: str, corpus: Corpus, rows: Sequence[int] | None = None) -> Collection:
    rows = list(range(len(corpus.chunks))) if rows is None else list(rows)
    collection = store.open_collection(name, corpus.embedder)
    collection.upsert([corpus.chunks[n] for n in rows], corpus.embeddings[rows])
    return collection


def exact_nearest(corpus: Corpus, query: np.ndarray, k: int, rows: Sequence[int] | None = None) -> list[str]:
    """The true k nearest chunk ids by cosine similarity (the vectors are unit length)."""
    rows = np.arange(len(corpus.chunks)) if rows is None else np.asarray(rows)
    order = np.argsort(-(corpus.embeddings[rows] @ query), kind="stable")[:k]
    return [corpus.chunks[rows[n]].id for n in order]


def assert_same_rows(collection: Collection, corpus: Corpus, rows: Sequence[int] | None = None) -> None:
    """Every chunk comes back with its text, metadata and vector (float32, within 1e-6)."""
    rows = list(range(len(corpus.chunks))) if rows is None else list(rows)
    got = collection.get(include_embeddings=True)
    assert got.embeddings is not None and got.embeddings.dtype == np.float32
    assert sorted(got.ids) == sorted(corpus.chunks[n].id for n in rows)
    position = {chunk_id: n for n, chunk_id in enumerate(got.ids)}
    for n in rows:
        chunk, at = corpus.chunks[n], position[corpus.chunks[n].id]
        assert got.texts[at] == chunk.text
        assert got.metadatas[at] == chunk.metadata
        np.testing.assert_allclose(got.embeddings[at], corpus.embeddings[n], rtol=0, atol=1e-6)


# -- the contract, on every backend ------------------------------------------------------------


@backends()
def test_a_collection_remembers_its_embedder_when_reopened(store_url, store, new_name, long_docs_corpus):
    name = new_name(store)
    fill(store, name, long_docs_corpus, range(20))
    again = open_store(store_url)  # a new client, as a new process would have
    assert again.collection_embedder(name) == long_docs_corpus.embedder
    reopened = again.open_collection(name, long_docs_corpus.embedder, create=False)
    assert reopened.embedder == long_docs_corpus.embedder and reopened.count() == 20
    listed = {info.name: info for info in again.list_collections()}
    assert listed[name] == CollectionInfo(name=name, embedder=long_docs_corpus.embedder, count=20)


@backends()
def test_another_embedder_is_refused_with_a_clear_message(store, new_name, long_docs_corpus):
    name = new_name(store)
    collection = fill(store, name, long_docs_corpus, range(5))
    minilm = long_docs_corpus.embedder
    with pytest.raises(EmbedderMismatch) as refused:
        store.open_collection(name, EmbedderInfo("openai:text-embedding-3-small", 1536))
    assert name in str(refused.value) and minilm.name in str(refused.value)
    assert "openai:text-embedding-3-small" in str(refused.value)
    with pytest.raises(EmbedderMismatch):  # same name, other size: still another model
        store.open_collection(name, EmbedderInfo(minilm.name, minilm.dimension * 2))
    with pytest.raises(EmbedderMismatch, match=str(minilm.dimension)):
        collection.upsert(long_docs_corpus.chunks[:2], np.ones((2, 10), np.float32))
    assert collection.count() == 5
    with pytest.raises(CollectionNotFound):
        store.open_collection(new_name(store), minilm, create=False)
    with pytest.raises(CollectionNotFound):
        store.collection_embedder("no-such-collection")


@backends()
def test_upsert_is_idempotent_and_replaces_by_id(store, new_name, long_docs_corpus):
    chunks, n = long_docs_corpus.chunks, len(long_docs_corpus.chunks)
    collection = fill(store, new_name(store), long_docs_corpus)
    assert collection.count() == n
    collection.upsert(chunks, long_docs_corpus.embeddings)
    assert collection.count() == n
    changed = replace(chunks[0], text="A replaced paragraph about zeppelins over the moors.")
    collection.upsert([changed], long_docs_corpus.embeddings[:1])
    assert collection.count() == n and collection.get(ids=[changed.id]).texts == [changed.text]
    assert collection.keyword_search("zeppelins", 3)[0].id == changed.id
    assert collection.existing_ids([chunks[1].id, "no-such-id"]) == {chunks[1].id}
    collection.delete_ids([c.id for c in chunks[:3]])
    assert collection.count() == n - 3 and collection.existing_ids([c.id for c in chunks[:4]]) == {chunks[3].id}


@backends()
def test_document_counts_count_each_row_of_a_file_as_a_document(store, new_name, long_docs_corpus):
    """A CSV / JSONL file's rows are documents of their own (numbered rows as strings, as ingest writes them); a
    file without rows is one; the sources add the rows up. The same on every store."""
    rows = [replace(chunk, source="table.csv", metadata={**chunk.metadata, "source": "table.csv", "row": str(n % 3),
                                                         "category": "table"})
            for n, chunk in enumerate(long_docs_corpus.chunks[:7])]
    plain = list(long_docs_corpus.chunks[7:9])
    collection = store.open_collection(new_name(store), long_docs_corpus.embedder)
    collection.upsert(rows + plain, long_docs_corpus.embeddings[:9])
    plain_counts = Counter((c.source, str(c.metadata["category"])) for c in plain)
    events: list[ProgressEvent] = []
    assert collection.document_counts(events.append) == sorted(
        [DocumentCount("table.csv", "0", "table", 3), DocumentCount("table.csv", "1", "table", 2),
         DocumentCount("table.csv", "2", "table", 2)]
        + [DocumentCount(s, "", c, n) for (s, c), n in plain_counts.items()],
        key=lambda d: (d.source, d.row, d.category))
    assert SourceInfo("table.csv", "table", 7) in collection.sources()
    # A store that reads the metadata page by page says how far it is (pgvector counts in one query).
    assert all(e.total == 9 for e in events) and (store.url.startswith("postgres") or events[-1].done == 9)


@backends()
def test_sources_categories_and_delete_source(store, new_name, long_docs_corpus):
    collection = fill(store, new_name(store), long_docs_corpus)
    counts = Counter((c.source, str(c.metadata["category"])) for c in long_docs_corpus.chunks)
    assert collection.sources() == [SourceInfo(source=s, category=c, chunks=n) for (s, c), n in sorted(counts.items())]
    assert collection.categories() == ["novel", "spec"]
    assert collection.document_counts() == [DocumentCount(s, "", c, n) for (s, c), n in sorted(counts.items())]

    spec_ids = [c.id for c in long_docs_corpus.chunks if c.source == SPEC]
    removed = collection.delete_source(SPEC, keep_ids=spec_ids[:2])
    assert removed == len(spec_ids) - 2
    assert sorted(collection.get(where=Filter(sources=(SPEC,))).ids) == sorted(spec_ids[:2])
    assert collection.count() == len(long_docs_corpus.chunks) - removed
    assert collection.delete_source("no-such-file.txt") == 0
    assert collection.delete_source(SPEC) == 2
    assert collection.categories() == ["novel"]


@backends()
def test_get_and_pages_round_trip_everything(store, new_name, long_docs_corpus):
    collection = fill(store, new_name(store), long_docs_corpus)
    assert_same_rows(collection, long_docs_corpus)
    assert collection.get().embeddings is None
    spec = collection.get(where=Filter(categories=("spec",)), include_embeddings=True)
    assert len(spec.ids) == 12 and {m["source"] for m in spec.metadatas} == {SPEC}
    assert spec.embeddings is not None and spec.embeddings.shape == (12, long_docs_corpus.embedder.dimension)
    assert len(collection.get(limit=7).ids) == 7
    some = [long_docs_corpus.chunks[n].id for n in (3, 150, 245)]
    assert sorted(collection.get(ids=some).ids) == sorted(some)

    pages = list(collection.iter_pages(include_embeddings=True, page_size=100))
    assert [len(p.ids) for p in pages] == [100, 100, 52]
    paged = [i for p in pages for i in p.ids]
    assert len(set(paged)) == len(paged) == len(long_docs_corpus.chunks)
    frankenstein = list(collection.iter_pages(where=Filter(sources=(FRANKENSTEIN,)), page_size=30))
    assert [len(p.ids) for p in frankenstein] == [30, 30, 30, 10]
    assert all(p.embeddings is None for p in frankenstein)


@backends()
def test_vector_search_finds_the_true_nearest_and_filters_first(store, new_name, long_docs_corpus, minilm):
    corpus = long_docs_corpus
    collection = fill(store, new_name(store), corpus)
    own = collection.vector_search(corpus.embeddings[17], 1)
    assert own[0].id == corpus.chunks[17].id and own[0].score == pytest.approx(1.0, abs=1e-5)

    query = minilm.embed(["Mr. Darcy proposes marriage and Elizabeth refuses him"])[0]
    hits = collection.vector_search(query, 10)
    truth = exact_nearest(corpus, query, 10)
    assert [h.rank for h in hits] == list(range(1, 11))
    assert hits[0].id == truth[0] and len(set(truth) & {h.id for h in hits}) >= 9
    cosine = dict(zip([c.id for c in corpus.chunks], corpus.embeddings @ query))
    assert all(h.score == pytest.approx(float(cosine[h.id]), abs=1e-5) for h in hits)
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))

    # A filter leaving 12 of 252 rows (5%) still gives k rows, the true nearest among them.
    spec_rows = corpus.rows(lambda c: c.source == SPEC)
    markdown = minilm.embed(["How are emphasis and strong emphasis written?"])[0]
    only_spec = collection.vector_search(markdown, 10, Filter(sources=(SPEC,)))
    assert len(only_spec) == 10 and {h.metadata["source"] for h in only_spec} == {SPEC}
    assert {h.id for h in only_spec} == set(exact_nearest(corpus, markdown, 10, spec_rows))
    assert len(collection.vector_search(markdown, 50, Filter(categories=("spec",)))) == 12
    both = collection.vector_search(query, 10, Filter(categories=("novel",), sources=(FRANKENSTEIN,)))
    assert len(both) == 10 and {h.metadata["source"] for h in both} == {FRANKENSTEIN}


@backends()
def test_keyword_search_finds_a_rare_word_and_respects_filters(store, new_name, long_docs_corpus):
    corpus = long_docs_corpus
    collection = fill(store, new_name(store), corpus)
    holder = [c for c in corpus.chunks if "Pemberley" in c.text]
    assert len(holder) == 1  # the corpus has the word once, in a Pride and Prejudice paragraph
    hits = collection.keyword_search("Pemberley", 5)
    assert hits and hits[0].id == holder[0].id and hits[0].rank == 1
    assert collection.keyword_search("Pemberley", 5, Filter(categories=("spec",))) == []
    assert collection.keyword_search("Pemberley", 5, Filter(sources=(holder[0].source,)))[0].id == holder[0].id
    # A question finds chunks holding some of its words, not only chunks holding all of them.
    question = collection.keyword_search("Which characters does the creature meet in the cottage?", 10)
    assert len(question) == 10
    spec_hits = collection.keyword_search("emphasis delimiter", 10, Filter(sources=(SPEC,)))
    assert spec_hits and {h.metadata["source"] for h in spec_hits} == {SPEC}


@backends()
def test_list_and_delete_collections(store, new_name, long_docs_corpus):
    first, second = new_name(store), new_name(store)
    fill(store, first, long_docs_corpus, range(5))
    fill(store, second, long_docs_corpus, range(10))
    listed = {info.name: info.count for info in store.list_collections()}
    assert listed[first] == 5 and listed[second] == 10
    store.delete_collection(first)
    assert first not in {info.name for info in store.list_collections()}
    with pytest.raises(CollectionNotFound):
        store.open_collection(first, long_docs_corpus.embedder, create=False)
    with pytest.raises(CollectionNotFound):
        store.delete_collection(first)
    survivor = store.open_collection(second, long_docs_corpus.embedder, create=False)
    assert survivor.count() == 10 and survivor.keyword_search("Bennet", 3)
    recreated = store.open_collection(first, long_docs_corpus.embedder)  # a deleted name starts empty
    assert recreated.count() == 0 and recreated.keyword_search("Bennet", 3) == []


@backends()
def test_hostile_names_filters_and_queries_are_only_data(store, new_name, long_docs_corpus):
    collection = fill(store, new_name(store), long_docs_corpus, range(30))
    for hostile in HOSTILE_VALUES + ("robert'); DROP TABLE students;--", "a b", "../escape"):
        with pytest.raises(ExplorerError, match="not a valid collection name"):
            store.open_collection(hostile, long_docs_corpus.embedder)
        with pytest.raises(CollectionNotFound):
            store.collection_embedder(hostile)
        with pytest.raises(CollectionNotFound):
            store.delete_collection(hostile)
    query = long_docs_corpus.embeddings[0]
    for hostile in HOSTILE_VALUES:
        for where in (Filter(categories=(hostile,)), Filter(sources=(hostile,))):
            assert collection.vector_search(query, 5, where) == []
            assert collection.keyword_search("the", 5, where) == []
            assert collection.get(where=where).ids == []
        assert collection.delete_source(hostile) == 0
        collection.keyword_search(hostile, 5)  # plain text to search for, nothing more
    assert collection.count() == 30 and len(store.list_collections()) >= 1


# -- copying between stores ----------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.chroma_server
def test_copy_from_a_folder_to_postgres_to_a_chroma_server_keeps_everything(
        tmp_path, postgres_url, chroma_server_url, new_name, long_docs_corpus, minilm):
    corpus = long_docs_corpus
    folder = open_store(str(tmp_path / "chroma"))
    postgres, server = open_store(postgres_url), open_store(chroma_server_url)
    original_name, postgres_name, server_name = new_name(folder), new_name(postgres), new_name(server)
    original = fill(folder, original_name, corpus)

    events: list[ProgressEvent] = []
    assert copy_collection(folder, postgres, original_name, postgres_name, progress=events.append, page_size=100) == 252
    assert [e.done for e in events] == [0, 100, 200, 252] and events[-1].total == 252
    assert "USING hnsw" in vector_index(postgres_url, postgres_name)  # built once, after the rows
    assert copy_collection(postgres, server, postgres_name, server_name, page_size=64) == 252

    copied = server.open_collection(server_name, corpus.embedder, create=False)
    assert server.collection_embedder(server_name) == corpus.embedder
    assert_same_rows(postgres.open_collection(postgres_name, corpus.embedder, create=False), corpus)
    assert_same_rows(copied, corpus)
    query = minilm.embed(["the creature learns to speak by watching a family"])[0]
    assert [h.id for h in copied.vector_search(query, 5)] == [h.id for h in original.vector_search(query, 5)]
    assert copied.keyword_search("Pemberley", 1)[0].id == original.keyword_search("Pemberley", 1)[0].id

    assert copy_collection(folder, postgres, original_name, postgres_name) == 252  # again: merged, not doubled
    assert postgres.open_collection(postgres_name, corpus.embedder, create=False).count() == 252


def test_copy_refuses_itself_and_another_models_collection(tmp_path, new_name, long_docs_corpus):
    store = open_store(str(tmp_path / "chroma"))
    name, other = new_name(store), new_name(store)
    fill(store, name, long_docs_corpus, range(10))
    store.open_collection(other, EmbedderInfo("openai:text-embedding-3-small", 1536))
    with pytest.raises(ExplorerError, match="onto itself"):
        copy_collection(store, open_store(str(tmp_path / "chroma")), name)
    with pytest.raises(EmbedderMismatch):
        copy_collection(store, store, name, other)
    with pytest.raises(CollectionNotFound):
        copy_collection(store, store, "no-such-collection", name)


def test_copy_command(tmp_path, long_docs_corpus, capsys):
    from core.cli import copy_cmd

    source, target = str(tmp_path / "from"), str(tmp_path / "to")
    fill(open_store(source), "books", long_docs_corpus, range(40))
    parser = argparse.ArgumentParser()
    copy_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["copy", "--from", source, "--to", target, "--collection", "books", "--as", "novels"])
    assert args.run(args) == 0
    assert "copied 40 chunks" in capsys.readouterr().out
    assert_same_rows(open_store(target).open_collection("novels", long_docs_corpus.embedder, create=False),
                     long_docs_corpus, range(40))


# -- unreachable servers -----------------------------------------------------------------------


def test_a_closed_port_is_a_clear_store_unavailable():
    port = free_port()
    with pytest.raises(StoreUnavailable) as down:
        open_store(f"postgresql://explorer:s3cret@127.0.0.1:{port}/explorer")
    message = str(down.value)
    assert f"127.0.0.1:{port}/explorer" in message and "start-postgres.sh" in message
    assert "s3cret" not in message
    with pytest.raises(StoreUnavailable, match="chroma"):
        open_store(f"chroma://127.0.0.1:{port}")


# -- what only PostgreSQL does ---------------------------------------------------------------


@pytest.fixture
def pg_collection(postgres_url, new_name, long_docs_corpus):
    store = open_store(postgres_url)
    return fill(store, new_name(store), long_docs_corpus)


def with_params(url: str, **params: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params, quote_via=quote)}"


def plan_and_rows(url: str, collection: Collection, query: np.ndarray, where: Filter, k: int,
                  iterative: bool) -> tuple[str, int]:
    """EXPLAIN and row count of a filtered kNN query like the store's, run by hand, iterative scans on or off."""
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        table = conn.execute("SELECT table_name FROM explorer_collections WHERE name = %s",
                             [collection.name]).fetchone()[0]
        statement = psycopg.sql.SQL("SELECT id FROM {} WHERE source = ANY(%s) ORDER BY embedding <=> %s LIMIT %s") \
            .format(psycopg.sql.Identifier(table))
        params = [list(where.sources or ()), query, k]
        with conn.transaction():
            conn.execute("SET LOCAL hnsw.iterative_scan = " + ("relaxed_order" if iterative else "off"))
            plan = "\n".join(r[0] for r in conn.execute(psycopg.sql.SQL("EXPLAIN ") + statement, params))
            rows = len(conn.execute(statement, params).fetchall())
    return plan, rows


@pytest.mark.postgres
def test_filtered_knn_keeps_scanning_the_hnsw_index_until_k_rows(postgres_url, new_name, long_docs_corpus, minilm):
    # On 252 rows PostgreSQL rightly reads a 5% filter through the btree on `source` and sorts
    # (exact). On big tables it reads the HNSW index instead and filters what comes out: the
    # case that comes back short. Forbidding sorts forces that plan here.
    url = with_params(postgres_url, options="-c enable_sort=off")
    store = open_store(url)
    collection = fill(store, new_name(store), long_docs_corpus)
    query = minilm.embed(["a ball at Netherfield"])[0]
    where = Filter(sources=(SPEC,))  # 12 of 252 rows
    plan, without = plan_and_rows(url, collection, query, where, 10, iterative=False)
    assert "_embedding" in plan, plan  # the HNSW index on the embedding column
    assert without < 10  # its 40 candidates near a Pride and Prejudice query hold few spec rows
    _, with_iterative = plan_and_rows(url, collection, query, where, 10, iterative=True)
    assert with_iterative == 10
    hits = collection.vector_search(query, 10, where)
    spec_rows = long_docs_corpus.rows(lambda c: c.source == SPEC)
    assert len(hits) == 10 and {h.metadata["source"] for h in hits} == {SPEC}
    assert len({h.id for h in hits} & set(exact_nearest(long_docs_corpus, query, 10, spec_rows))) >= 9


def vector_index(postgres_url: str, collection: str) -> str | None:
    """The definition of a collection's vector index, None while it has none."""
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT i.indexdef FROM pg_indexes i"
                           " JOIN explorer_collections c ON c.table_name = i.tablename"
                           " WHERE c.name = %s AND i.indexname LIKE '%%\\_embedding'", [collection]).fetchone()
    return row[0] if row else None


@pytest.mark.postgres
def test_a_bulk_write_builds_the_hnsw_index_once_at_the_end(postgres_url, new_name, long_docs_corpus):
    store = open_store(postgres_url)
    collection = store.open_collection(new_name(store), long_docs_corpus.embedder)
    assert "USING hnsw" in vector_index(postgres_url, collection.name)
    chunks, vectors = long_docs_corpus.chunks, long_docs_corpus.embeddings
    with collection.bulk_write(len(chunks)):
        collection.upsert(chunks[:100], vectors[:100])
        assert vector_index(postgres_url, collection.name) is None  # rows go in without index upkeep
        assert collection.vector_search(vectors[5], 1)[0].id == chunks[5].id  # searches scan exactly meanwhile
        collection.upsert(chunks[100:], vectors[100:])
    assert "USING hnsw" in vector_index(postgres_url, collection.name)
    with collection.bulk_write(10):  # 10 rows into 252: cheaper kept up as they come
        collection.upsert(chunks[:10], vectors[:10])
        assert vector_index(postgres_url, collection.name) is not None

    with psycopg.connect(postgres_url, autocommit=True) as conn:  # a bulk write killed before its end
        conn.execute(psycopg.sql.SQL("DROP INDEX {}").format(psycopg.sql.Identifier(
            vector_index(postgres_url, collection.name).split(" INDEX ")[1].split(" ON ")[0])))
    assert vector_index(postgres_url, collection.name) is None
    store.open_collection(collection.name, long_docs_corpus.embedder, create=False)
    assert "USING hnsw" in vector_index(postgres_url, collection.name)


@pytest.mark.postgres
def test_ivfflat_lists_are_built_after_loading_and_regrown(postgres_url, new_name, long_docs_corpus, minilm):
    store = open_store(with_params(postgres_url, index="ivfflat"))
    collection = fill(store, new_name(store), long_docs_corpus, range(50))

    def lists() -> int:
        definition = vector_index(postgres_url, collection.name)
        assert definition and "USING ivfflat" in definition
        return int(definition.split("lists='")[1].split("'")[0])

    assert lists() == 7  # round(sqrt(50))
    collection.upsert(long_docs_corpus.chunks[50:100], long_docs_corpus.embeddings[50:100])
    assert lists() == 7  # 100 rows: less than 4x, the lists still fit
    collection.upsert(long_docs_corpus.chunks[100:], long_docs_corpus.embeddings[100:])
    assert lists() == 16  # 252 rows: rebuilt with round(sqrt(252)) lists
    own = collection.vector_search(long_docs_corpus.embeddings[200], 1)
    assert own[0].id == long_docs_corpus.chunks[200].id
    query = minilm.embed(["How are emphasis and strong emphasis written?"])[0]
    assert len(collection.vector_search(query, 10, Filter(sources=(SPEC,)))) == 10
    reopened = open_store(postgres_url).open_collection(collection.name, long_docs_corpus.embedder, create=False)
    assert reopened.index.kind == "ivfflat"  # the collection keeps its index, whatever the URL says


def test_an_unknown_index_kind_in_the_url_is_refused():
    with pytest.raises(ExplorerError, match="unknown vector index 'annoy'"):
        open_store("postgresql://postgres@127.0.0.1:1/explorer?index=annoy")


@pytest.mark.postgres
def test_a_dropped_connection_is_reported_then_reopened(postgres_url, new_name, long_docs_corpus):
    tag = f"explorer-test-{uuid.uuid4().hex[:8]}"  # so only this store's connections are cut
    store = open_store(with_params(postgres_url, application_name=tag))
    collection = fill(store, new_name(store), long_docs_corpus, range(10))
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # as when the server restarts
        ended = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                              [tag]).fetchall()
    assert ended and all(done for (done,) in ended)  # every connection of the store's pool
    with pytest.raises(StoreUnavailable, match="cannot reach PostgreSQL"):
        collection.count()
    assert collection.count() == 10


def test_the_sidebar_index_choice_goes_into_the_url_unless_the_url_names_one():
    from core.stores.pgvector import split_url, with_index

    url = with_index("postgresql://u:secret@db:5433/explorer?sslmode=disable", "ivfflat")
    conninfo, index, _ = split_url(url)
    assert index.kind == "ivfflat" and "sslmode=disable" in conninfo and "index" not in conninfo
    assert with_index("postgresql://db/explorer?index=exact", "hnsw") == "postgresql://db/explorer?index=exact"
