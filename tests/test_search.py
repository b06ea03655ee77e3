"""Vector, keyword and hybrid search on a real Chroma collection of SciFact abstracts, ingested
through the pipeline with the real MiniLM; plus the fusion functions on lists worked out by hand."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from conftest import SCIFACT
from core.documents import DocumentKey
from core.evaluation import load_qrels
from core.pipeline import LoadOptions, Upload, ingest
from core.search import (FusionSettings, fuse_convex, fuse_rrf, fusion_sweep, scale_by_best, search,
                         search_many)
from core.stores import open_store
from core.types import ChunkSettings, Filter, Hit

N_DOCS = 300
WHOLE = ChunkSettings(method="fixed", size=10**9, overlap=0, unit="chars")
OPTIONS = dict(text_field="title,text", metadata_fields=("_id",))


def hits(*pairs: tuple[str, float]) -> list[Hit]:
    return [Hit(id=i, text=i, metadata={}, score=s, rank=r) for r, (i, s) in enumerate(pairs, start=1)]


# -- fusion, by hand ---------------------------------------------------------------------------


def test_rrf_adds_weighted_reciprocal_ranks():
    vector = hits(("a", 0.9), ("b", 0.8), ("c", 0.7))
    keyword = hits(("c", 12.0), ("d", 5.0))
    fused = fuse_rrf([vector, keyword], weights=(0.6, 0.4), rrf_k=10)
    by_id = {f.id: f for f in fused}
    assert by_id["c"].contributions == pytest.approx((0.6 / 13, 0.4 / 11))
    assert by_id["a"].contributions == pytest.approx((0.6 / 11, 0.0))
    assert by_id["d"].contributions == pytest.approx((0.0, 0.4 / 12))
    assert [f.id for f in fused] == ["c", "a", "b", "d"]  # 0.0825, 0.0545, 0.05, 0.0333
    assert all(f.score == pytest.approx(sum(f.contributions)) for f in fused)


def test_rrf_ties_go_to_the_better_single_list_rank():
    fused = fuse_rrf([hits(("a", 1.0), ("b", 0.5)), hits(("b", 3.0), ("a", 1.0))], weights=(0.5, 0.5))
    assert fused[0].score == fused[1].score
    assert [f.id for f in fused] == ["a", "b"]  # both best at rank 1: by id


def test_convex_scales_by_each_lists_best_and_floors_missing_items():
    assert list(scale_by_best(np.array([4.0, 2.0, 1.0]))) == [1.0, 0.5, 0.25]
    vector = hits(("a", 0.8), ("b", 0.6), ("c", 0.4))
    keyword = hits(("b", 10.0), ("d", 8.0), ("e", 2.0))
    fused = {f.id: f for f in fuse_convex([vector, keyword], weights=(0.5, 0.5))}
    # b: 0.5 * 0.6/0.8 + 0.5 * 1; a: missing from keyword -> that list's lowest (2/10).
    assert fused["b"].contributions == pytest.approx((0.375, 0.5))
    assert fused["a"].contributions == pytest.approx((0.5, 0.1))
    assert fused["d"].contributions == pytest.approx((0.25, 0.4))  # vector floor 0.4/0.8
    assert [f.id for f in fuse_convex([vector, keyword], (0.5, 0.5))][:3] == ["b", "d", "a"]
    only_vector = fuse_convex([vector, []], weights=(0.7, 0.3))  # no keyword hits: nothing to add
    assert [f.contributions[1] for f in only_vector] == [0.0, 0.0, 0.0]


# -- a real collection -------------------------------------------------------------------------


def _jsonl(rows: list[dict]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(next(fh)) for _ in range(N_DOCS + 1)]  # the last one is added later by a test


@pytest.fixture(scope="module")
def claims(corpus) -> dict[str, tuple[str, set[str]]]:
    """Train claims whose judged abstracts are all in the collection: claim id -> (text, judged ids)."""
    present = {d["_id"] for d in corpus[:N_DOCS]}
    qrels = load_qrels(SCIFACT / "qrels" / "train.tsv")
    texts = {q["_id"]: q["text"] for q in map(json.loads, (SCIFACT / "queries.jsonl").open(encoding="utf-8"))}
    return {q: (texts[q], set(docs)) for q, docs in qrels.items() if set(docs) <= present}


@pytest.fixture(scope="module")
def collection(tmp_path_factory, corpus, minilm):
    """300 abstracts in two files: even rows as category 'even', odd rows as 'odd'."""
    store = open_store(str(tmp_path_factory.mktemp("store")))
    col = store.open_collection("scifact", minilm.info)
    for parity, name in ((0, "even"), (1, "odd")):
        upload = Upload(f"{name}.jsonl", _jsonl(corpus[parity:N_DOCS:2]))
        report = ingest([upload], col, minilm, WHOLE, LoadOptions(category=name, **OPTIONS))
        assert report.chunks_added == N_DOCS // 2 and not report.failures
    return col


def test_hybrid_finds_the_judged_abstracts(collection, minilm, claims):
    assert len(claims) >= 40
    found = {}
    for mode in ("vector", "keyword", "hybrid"):
        per_claim = search_many(collection, minilm, [text for text, _ in claims.values()], mode=mode, k=10)
        found[mode] = sum(bool(judged & {r.metadata["_id"] for r in results})
                          for (_, judged), results in zip(claims.values(), per_claim)) / len(claims)
    assert found["hybrid"] >= 0.93  # measured 41 of 43 (vector 40, BM25 37)
    assert found["hybrid"] >= max(found["vector"], found["keyword"])
    top = search(collection, minilm, "Chenodeoxycholic acid treatment decreases brown adipose tissue activity.")
    assert top[0].metadata["_id"] in claims["250"][1]


def test_breakdown_matches_the_single_list_searches(collection, minilm, claims):
    fusion = FusionSettings()
    for text, _ in list(claims.values())[:8]:
        hybrid = search(collection, minilm, text, k=10, fusion=fusion)
        vector = {r.id: r for r in search(collection, minilm, text, mode="vector", k=fusion.depth)}
        keyword = {r.id: r for r in search(collection, minilm, text, mode="keyword", k=fusion.depth)}
        assert [r.rank for r in hybrid] == list(range(1, 11))
        assert all(a.score >= b.score for a, b in zip(hybrid, hybrid[1:]))
        for r in hybrid:
            assert r.score == pytest.approx(r.vector_contribution + r.keyword_contribution)
            assert (r.vector_rank, r.vector_score) == ((vector[r.id].rank, pytest.approx(vector[r.id].score))
                                                        if r.id in vector else (None, None))
            assert (r.keyword_rank, r.keyword_score) == ((keyword[r.id].rank, pytest.approx(keyword[r.id].score))
                                                          if r.id in keyword else (None, None))
            assert r.vector_rank or r.keyword_rank
            if r.vector_rank:  # convex: weight * cosine / best cosine
                best = max(v.score for v in vector.values())
                assert r.vector_contribution == pytest.approx(fusion.weight * r.vector_score / best)


def test_rrf_breakdown(collection, minilm, claims):
    fusion = FusionSettings(method="rrf", rrf_k=20, depth=50, weight=0.3)
    text = next(iter(claims.values()))[0]
    for r in search(collection, minilm, text, k=10, fusion=fusion):
        expected_v = 0.3 / (20 + r.vector_rank) if r.vector_rank else 0.0
        expected_k = 0.7 / (20 + r.keyword_rank) if r.keyword_rank else 0.0
        assert (r.vector_contribution, r.keyword_contribution) == (pytest.approx(expected_v), pytest.approx(expected_k))
        assert r.score == pytest.approx(expected_v + expected_k)
        assert all(rank is None or rank <= 50 for rank in (r.vector_rank, r.keyword_rank))  # depth 50


def test_single_list_modes_credit_their_list(collection, minilm):
    vector = search(collection, minilm, "vitamin D and bone density", mode="vector", k=5)
    keyword = search(collection, minilm, "vitamin D and bone density", mode="keyword", k=5)
    assert len(vector) == len(keyword) == 5
    assert all(r.vector_contribution == r.score == r.vector_score and r.keyword_rank is None for r in vector)
    assert all(r.keyword_contribution == r.score == r.keyword_score and r.vector_rank is None for r in keyword)
    assert all(-1.0 <= r.score <= 1.0 for r in vector)


def test_filters_restrict_every_mode(collection, minilm, corpus):
    odd_ids = {d["_id"] for d in corpus[1:N_DOCS:2]}
    for mode in ("vector", "keyword", "hybrid"):
        results = search(collection, minilm, "cancer cells tumour growth", mode=mode, k=10,
                         where=Filter(categories=("odd",)))
        assert len(results) == 10, mode
        assert {r.metadata["_id"] for r in results} <= odd_ids, mode
        by_source = search(collection, minilm, "cancer cells tumour growth", mode=mode, k=10,
                           where=Filter(sources=("even.jsonl",)))
        assert by_source and all(r.metadata["category"] == "even" for r in by_source), mode
        assert search(collection, minilm, "cancer", mode=mode, where=Filter(categories=("none",))) == []


def test_chosen_rows_of_a_file_narrow_every_mode_exactly(collection, minilm, corpus):
    """Rows of a JSONL file are documents: a search among 30 chosen rows of odd.jsonl (and the whole of no
    other file) returns only them, ranked as a search of the whole file with the other rows struck out."""
    chosen = [DocumentKey("odd.jsonl", d["_id"]) for d in corpus[1:61:2]]
    wanted = {key.row for key in chosen}
    query = "cancer cells tumour growth"
    for mode in ("vector", "keyword", "hybrid"):
        results = search(collection, minilm, query, mode=mode, k=10, documents=chosen)
        assert results and {r.metadata["_id"] for r in results} <= wanted, mode
        assert [r.rank for r in results] == list(range(1, len(results) + 1))
        if mode != "hybrid":
            whole = search(collection, minilm, query, mode=mode, k=N_DOCS, where=Filter(sources=("odd.jsonl",)))
            assert [r.id for r in results] == [r.id for r in whole if r.metadata["_id"] in wanted][:10], mode
    both = search(collection, minilm, query, mode="vector", k=N_DOCS, documents=[*chosen, DocumentKey("even.jsonl")])
    assert len(both) == 30 + N_DOCS // 2
    sweep = fusion_sweep(collection, minilm, query, [FusionSettings()], k=5, documents=chosen)
    assert sweep.rows and {r.metadata["_id"] for r in sweep.rows} <= wanted


def test_empty_and_very_long_queries(collection, minilm, corpus):
    for mode in ("vector", "keyword", "hybrid"):
        assert search(collection, minilm, "", mode=mode) == []
        assert search(collection, minilm, " \n\t ", mode=mode) == []
    abstract = corpus[10]["title"] + " " + corpus[10]["text"]
    long_query = (abstract + " ") * (10_000 // len(abstract) + 1)
    results = search(collection, minilm, long_query[:10_000], k=5)
    assert results and results[0].metadata["_id"] == corpus[10]["_id"]
    with pytest.raises(ValueError, match="search mode"):
        search(collection, minilm, "x", mode="fuzzy")  # type: ignore[arg-type]


def test_k_beyond_depth_still_returns_k(collection, minilm):
    results = search(collection, minilm, "protein expression in cells", k=40,
                     fusion=FusionSettings(depth=10))
    assert len(results) == 40


def test_fusion_sweep_matches_separate_searches(collection, minilm, claims):
    text = list(claims.values())[3][0]
    base = FusionSettings(method="rrf")
    settings = [replace(base, rrf_k=1, depth=20), replace(base, rrf_k=60, depth=100), FusionSettings()]
    sweep = fusion_sweep(collection, minilm, text, settings, k=10)
    for n, s in enumerate(settings):
        top = [r.id for r in search(collection, minilm, text, k=10, fusion=s)]
        assert [row.id for row in sorted((r for r in sweep.rows if r.ranks[n] and r.ranks[n] <= 10),
                                         key=lambda r: r.ranks[n])] == top
    assert [row.ranks[0] for row in sweep.rows][:10] == list(range(1, 11))
    moved = [row for row in sweep.rows if row.movement]
    assert all(row.movement == row.ranks[0] - row.ranks[-1] for row in moved)
    assert fusion_sweep(collection, minilm, "  ", settings).rows == []


def test_keyword_side_follows_upserts_and_deletes(collection, minilm, corpus):
    newcomer = corpus[N_DOCS]
    query = newcomer["title"]
    assert newcomer["_id"] not in {r.metadata["_id"] for r in search(collection, minilm, query, mode="keyword")}
    report = ingest([Upload("late.jsonl", _jsonl([newcomer]))], collection, minilm, WHOLE,
                    LoadOptions(category="late", **OPTIONS))
    assert report.chunks_added == 1
    for mode in ("keyword", "hybrid", "vector"):
        assert search(collection, minilm, query, mode=mode, k=3)[0].metadata["_id"] == newcomer["_id"], mode
    assert collection.delete_source("late.jsonl") == 1
    for mode in ("keyword", "hybrid", "vector"):
        assert newcomer["_id"] not in {r.metadata["_id"] for r in search(collection, minilm, query, mode=mode)}
