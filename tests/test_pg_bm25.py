"""BM25 inside PostgreSQL equals bm25s: the same analyzer, k1 and b give the same scores and ranks.

The reference is bm25s ("lucene" variant) indexed from scratch on exactly the rows the
collection holds, the way core/keyword.py scores the Chroma stores. Checked on real
paragraphs of ../shared/corpora/long_docs with their MiniLM vectors, for real questions,
with and without filters, after incremental upserts, replacements and deletes (so the
stored N, average length and document frequencies must stay right), for a collection made
before the term statistics existed, and with eight threads sharing one store.
"""
from __future__ import annotations

import threading
from dataclasses import replace

import bm25s
import numpy as np
import psycopg
import pytest
from psycopg import sql

from core.keyword import Analyzer, BM25Settings
from core.search import FusionSettings, fuse, search
from core.stores import open_store
from core.stores.pgvector import PgVectorStore
from core.types import Chunk, Filter, ProgressEvent
from store_fixtures import Corpus

pytestmark = pytest.mark.postgres

SETTINGS = BM25Settings()
QUERIES = ("Which characters does the creature meet in the cottage?",
           "Elizabeth walks to Netherfield to see her sister Jane",
           "emphasis delimiter runs and link reference definitions",
           "Mr. Darcy's letter to Elizabeth about Wickham",
           "Victor Frankenstein studied natural philosophy at Ingolstadt")
FILTERS = (None, Filter(categories=("novel",)), Filter(sources=("commonmark_spec.txt", "pg84_frankenstein.txt")),
           Filter(categories=("novel",), sources=("pg1342_pride_and_prejudice.txt",)))
REL = 1e-5  # bm25s keeps its scores in float32


def bm25s_ranking(chunks: list[Chunk], query: str, where: Filter | None) -> list[tuple[str, float]]:
    """bm25s over exactly these chunks: (id, score) of every chunk scoring above 0, best first."""
    analyzer = Analyzer(SETTINGS)
    model = bm25s.BM25(k1=SETTINGS.k1, b=SETTINGS.b, method="lucene")
    model.index(analyzer.corpus([c.text for c in chunks]), show_progress=False)
    terms = [t for t in analyzer.terms(query) if t in model.vocab_dict]
    if not terms:
        return []
    mask = None
    if where is not None:
        mask = np.array([(not where.categories or c.metadata["category"] in where.categories)
                         and (not where.sources or c.source in where.sources) for c in chunks], dtype=np.float32)
    scores = model.get_scores(terms, weight_mask=mask)
    order = sorted((n for n in range(len(chunks)) if scores[n] > 0), key=lambda n: (-scores[n], chunks[n].id))
    return [(chunks[n].id, float(scores[n])) for n in order]


def assert_same_as_bm25s(collection, chunks: list[Chunk]) -> int:
    """Every query under every filter: same chunks, same scores, same ranks; returns the hits compared."""
    compared = 0
    for query in QUERIES:
        for where in FILTERS:
            expected = bm25s_ranking(chunks, query, where)
            hits = collection.keyword_search(query, len(chunks), where)
            assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
            assert {h.id for h in hits} == {i for i, _ in expected}, (query, where)
            reference = dict(expected)
            for hit in hits:
                assert hit.score == pytest.approx(reference[hit.id], rel=REL), (query, where, hit.id)
            for hit, (expected_id, expected_score) in zip(hits, expected):
                # Identical ranks, except where bm25s's float32 cannot tell two scores apart.
                if hit.id != expected_id:
                    assert reference[hit.id] == pytest.approx(expected_score, rel=REL), (query, where, hit.rank)
            compared += len(hits)
    return compared


@pytest.fixture
def pg_store(postgres_url) -> PgVectorStore:
    store = open_store(postgres_url)
    assert isinstance(store, PgVectorStore)
    return store


def test_scores_equal_bm25s_with_and_without_filters(pg_store, new_name, long_docs_corpus):
    collection = pg_store.open_collection(new_name(pg_store), long_docs_corpus.embedder)
    collection.upsert(long_docs_corpus.chunks, long_docs_corpus.embeddings)
    assert assert_same_as_bm25s(collection, long_docs_corpus.chunks) > 500
    # Repeated query words count once per occurrence, as in bm25s.
    assert collection.keyword_search("Darcy Darcy letter", 1)[0].score == pytest.approx(
        bm25s_ranking(long_docs_corpus.chunks, "Darcy Darcy letter", None)[0][1], rel=REL)


def test_statistics_follow_incremental_upserts_replacements_and_deletes(pg_store, new_name, long_docs_corpus):
    corpus: Corpus = long_docs_corpus
    chunks = list(corpus.chunks)
    collection = pg_store.open_collection(new_name(pg_store), corpus.embedder)
    # Written in three batches, one repeating ids of the previous (replaced, not counted twice).
    collection.upsert(chunks[:100], corpus.embeddings[:100])
    collection.upsert(chunks[80:200], corpus.embeddings[80:200])
    collection.upsert(chunks[200:], corpus.embeddings[200:])
    assert_same_as_bm25s(collection, chunks)
    # Texts changed under the same ids: longer, shorter, and one of stop words only (length 0, still counted in N).
    changed = {0: chunks[0].text * 3, 1: "Ingolstadt.", 2: "the and of it"}
    for n, text in changed.items():
        chunks[n] = replace(chunks[n], text=text)
    collection.upsert([chunks[n] for n in changed], corpus.embeddings[list(changed)])
    assert_same_as_bm25s(collection, chunks)
    # Deletes by id and by source.
    by_id = {c.id for c in chunks[10:40]}
    collection.delete_ids(sorted(by_id))
    spec = [c.id for c in chunks if c.source == "commonmark_spec.txt"]
    assert collection.delete_source("commonmark_spec.txt", keep_ids=spec[:3]) == len(spec) - 3
    gone = by_id | set(spec[3:])
    chunks = [c for c in chunks if c.id not in gone]
    assert collection.count() == len(chunks)
    assert_same_as_bm25s(collection, chunks)


def test_hybrid_uses_the_common_fusion_and_bm25_breakdown(pg_store, new_name, long_docs_corpus, minilm):
    collection = pg_store.open_collection(new_name(pg_store), long_docs_corpus.embedder)
    collection.upsert(long_docs_corpus.chunks, long_docs_corpus.embeddings)
    fusion = FusionSettings()
    for query in QUERIES[:3]:
        results = search(collection, minilm, query, mode="hybrid", k=10, fusion=fusion)
        keyword = collection.keyword_search(query, fusion.depth)
        vector = collection.vector_search(minilm.embed([query])[0], fusion.depth)
        assert [r.id for r in results] == [f.id for f in fuse(vector, keyword, fusion)[:10]]
        expected = bm25s_ranking(long_docs_corpus.chunks, query, None)
        reference = dict(expected)
        assert any(r.keyword_rank for r in results)
        for result in results:
            if result.keyword_rank is not None:  # the breakdown's BM25 rank and score are bm25s's
                assert result.keyword_score == pytest.approx(reference[result.id], rel=REL)
                assert expected[result.keyword_rank - 1][1] == pytest.approx(result.keyword_score, rel=REL)


def make_like_before_term_statistics(url: str, name: str) -> None:
    """Turn a collection into what this store made before BM25 lived in PostgreSQL:
    a generated tsvector column with its GIN index, no postings, no statistics."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        table = conn.execute("SELECT table_name FROM explorer_collections WHERE name = %s", [name]).fetchone()[0]
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(f"{table}_bm25")))
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
                             "(to_tsvector('english', text)) STORED").format(sql.Identifier(table)))
        conn.execute(sql.SQL("CREATE INDEX {} ON {} USING gin (tsv)").format(
            sql.Identifier(f"{table}_tsv"), sql.Identifier(table)))
        conn.execute("UPDATE explorer_collections SET keyword_index = NULL, keyword_chunks = 0, keyword_length = 0 "
                     "WHERE name = %s", [name])


def columns(url: str, name: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute(
            "SELECT column_name FROM information_schema.columns c JOIN explorer_collections e "
            "ON e.table_name = c.table_name WHERE e.name = %s", [name])}


def test_a_collection_made_before_gets_its_statistics_on_first_use_and_by_rebuild(
        postgres_url, pg_store, new_name, long_docs_corpus):
    corpus = long_docs_corpus
    name = new_name(pg_store)
    pg_store.open_collection(name, corpus.embedder).upsert(corpus.chunks[:150], corpus.embeddings[:150])
    make_like_before_term_statistics(postgres_url, name)
    assert "tsv" in columns(postgres_url, name)

    reopened = open_store(postgres_url).open_collection(name, corpus.embedder, create=False)
    # A write before the first search does not need the postings: the build covers it.
    reopened.upsert(corpus.chunks[150:], corpus.embeddings[150:])
    version = reopened.version()
    assert_same_as_bm25s(reopened, corpus.chunks)  # built on this first keyword search
    assert "tsv" not in columns(postgres_url, name) and reopened.version() != version

    make_like_before_term_statistics(postgres_url, name)
    events: list[ProgressEvent] = []
    fresh = open_store(postgres_url).open_collection(name, corpus.embedder, create=False)
    fresh.rebuild_keyword_index(events.append)
    total = len(corpus.chunks)
    assert events[0].done == 0 and events[-1].done == total and {e.total for e in events} == {total}
    assert_same_as_bm25s(fresh, corpus.chunks)
    fresh.rebuild_keyword_index()  # again on complete statistics: the same result
    assert_same_as_bm25s(fresh, corpus.chunks)


def test_eight_threads_share_one_store_writing_and_searching(pg_store, new_name, long_docs_corpus, minilm):
    corpus = long_docs_corpus
    collection = pg_store.open_collection(new_name(pg_store), corpus.embedder)
    collection.upsert(corpus.chunks[:60], corpus.embeddings[:60])
    batches = [range(60 + 24 * n, min(60 + 24 * (n + 1), len(corpus.chunks))) for n in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(rows: range) -> None:
        try:
            start.wait()
            for lo in range(rows.start, rows.stop, 6):  # small writes, each followed by reads
                part = list(range(lo, min(lo + 6, rows.stop)))
                collection.upsert([corpus.chunks[n] for n in part], corpus.embeddings[part])
                # Each thread finds what it has just written, whatever the others are doing meanwhile.
                just_written = corpus.chunks[part[0]]
                assert just_written.id in [h.id for h in collection.keyword_search(just_written.text, 5)]
                assert search(collection, minilm, QUERIES[lo % 3], mode="hybrid", k=5)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(rows,)) for rows in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert collection.count() == len(corpus.chunks)
    assert_same_as_bm25s(collection, corpus.chunks)  # no statistics lost between concurrent writers
