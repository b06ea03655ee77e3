"""The evaluator: metrics by hand and against trec_eval, BEIR loading, and `python -m core eval` end to end."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import pytrec_eval

from conftest import SCIFACT
from core.cli import main
from core.evaluation import (BenchmarkError, documents_ranked, load_beir, load_qrels, mrr_at, ndcg_at,
                             recall_at, score_run)
from core.keyword import KeywordIndex
from core.search import SearchResult

# -- metrics on cases small enough to work out by hand ----------------------------------------


def test_ndcg_uses_graded_gains_and_the_ideal_from_the_judgments():
    judged = {"d2": 1, "d3": 2, "d9": 1, "d0": 0}
    dcg = 0 + 1 / math.log2(3) + 2 / math.log2(4)          # d1 unjudged, d2 at 2, d3 at 3
    ideal = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(["d1", "d2", "d3"], judged) == pytest.approx(dcg / ideal)
    assert ndcg_at(["d3", "d2", "d9"], judged) == pytest.approx(1.0)
    assert ndcg_at(["d0", "x", "y"], judged) == 0.0        # judged 0 = not relevant
    assert ndcg_at([], judged) == 0.0
    # Cut at k: a relevant document at rank 3 counts for k=3, not for k=2.
    assert ndcg_at(["a", "b", "d3"], {"d3": 1}, k=2) == 0.0
    assert ndcg_at(["a", "b", "d3"], {"d3": 1}, k=3) == pytest.approx(1 / math.log2(4))


def test_recall_and_mrr():
    judged = {"a": 1, "b": 1, "c": 0, "d": 2}
    ranked = ["c", "x", "b", "y", "a"]
    assert recall_at(ranked, judged, 3) == pytest.approx(1 / 3)
    assert recall_at(ranked, judged, 10) == pytest.approx(2 / 3)
    assert mrr_at(ranked, judged) == pytest.approx(1 / 3)
    assert mrr_at(ranked, judged, k=2) == 0.0
    assert mrr_at([], judged) == 0.0


def test_score_run_averages_over_judged_queries_only():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}    # q3 has no relevant document
    scores = score_run({"q1": ["a"], "q2": ["x", "b"]}, qrels)
    assert scores.queries == 2
    assert scores.mrr_10 == pytest.approx((1 + 0.5) / 2)
    assert score_run({"q1": ["a"]}, qrels).recall_10 == pytest.approx(0.5)  # q2 missing from the run: 0


def test_documents_ranked_keeps_each_document_at_its_best_chunk():
    def result(rank: int, doc: str) -> SearchResult:
        return SearchResult(id=f"chunk{rank}", text="", metadata={"_id": doc}, score=1 / rank, rank=rank)

    assert documents_ranked([result(1, "B"), result(2, "A"), result(3, "B"), result(4, "C")]) == ["B", "A", "C"]


# -- loading BEIR ------------------------------------------------------------------------------


def test_loads_scifact_train_with_crlf_judgments():
    assert b"\r\n" in (SCIFACT / "qrels" / "train.tsv").read_bytes()[:200]
    qrels = load_qrels(SCIFACT / "qrels" / "train.tsv")
    assert sum(len(d) for d in qrels.values()) == 919 and len(qrels) == 809
    assert all("\r" not in q and all("\r" not in d for d in docs) for q, docs in qrels.items())
    bench = load_beir(SCIFACT, split="train")
    assert len(bench.queries) == 809 and set(bench.queries) == set(qrels)
    first = next(bench.documents())
    assert first.id and first.content.startswith(first.title + "\n")


def test_bad_benchmark_input_is_named(tmp_path: Path):
    with pytest.raises(BenchmarkError, match="test.tsv"):
        load_beir(SCIFACT, split="test")  # deliberately absent in shared/
    bad = tmp_path / "bad.tsv"
    bad.write_text("query-id\tcorpus-id\tscore\n1\t2\n")
    with pytest.raises(BenchmarkError, match=r"bad.tsv:2"):
        load_qrels(bad)
    bad.write_text("query-id\tcorpus-id\tscore\n1\t2\tvery\n")
    with pytest.raises(BenchmarkError, match="not a number"):
        load_qrels(bad)
    with pytest.raises(BenchmarkError, match="not a folder"):
        load_beir(tmp_path / "nowhere")
    unmatched = tmp_path / "unmatched.tsv"
    unmatched.write_text("query-id\tcorpus-id\tscore\nno-such-query\t1\t1\n")
    with pytest.raises(BenchmarkError, match="no query"):
        load_beir(SCIFACT, qrels_file=unmatched)


def test_metrics_agree_with_trec_eval_on_a_real_scifact_run(tmp_path: Path):
    """BM25 over the whole SciFact corpus, scored by us and by pytrec_eval (trec_eval in C)."""
    bench = load_beir(SCIFACT, split="train")
    docs = list(bench.documents())
    index = KeywordIndex(tmp_path / "kw.sqlite3")
    with index.writing() as writer:
        writer.rebuild([([d.id for d in docs], [d.content for d in docs], [{} for _ in docs])], "scifact")
    run = {q: [h.id for h in index.search(text, 100)] for q, text in bench.queries.items()}
    ours = score_run(run, bench.qrels)

    scored = {q: {doc: float(100 - i) for i, doc in enumerate(ranked)} for q, ranked in run.items()}
    theirs = pytrec_eval.RelevanceEvaluator(bench.qrels, {"ndcg_cut.10", "recall.10", "recall.100"}).evaluate(scored)
    top10 = {q: dict(list(docs.items())[:10]) for q, docs in scored.items()}
    rr = pytrec_eval.RelevanceEvaluator(bench.qrels, {"recip_rank"}).evaluate(top10)

    def mean(table: dict, measure: str) -> float:
        return sum(row[measure] for row in table.values()) / len(bench.qrels)

    assert ours.queries == 809
    assert ours.ndcg_10 == pytest.approx(mean(theirs, "ndcg_cut_10"), abs=1e-9)
    assert ours.recall_10 == pytest.approx(mean(theirs, "recall_10"), abs=1e-9)
    assert ours.recall_100 == pytest.approx(mean(theirs, "recall_100"), abs=1e-9)
    assert ours.mrr_10 == pytest.approx(mean(rr, "recip_rank"), abs=1e-9)
    # Stemmed BM25 on the train split: above the published flat BM25 (0.665 on test).
    assert 0.68 < ours.ndcg_10 < 0.72


# -- `python -m core eval` on a SciFact slice --------------------------------------------------


@pytest.fixture(scope="module")
def scifact_slice(tmp_path_factory) -> Path:
    """A BEIR folder: 150 SciFact abstracts and the train claims judged against them alone."""
    folder = tmp_path_factory.mktemp("beir") / "scifact-slice"
    (folder / "qrels").mkdir(parents=True)
    lines = (SCIFACT / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:150]
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    present = {json.loads(line)["_id"] for line in lines}
    qrels = load_qrels(SCIFACT / "qrels" / "train.tsv")
    kept = {q: docs for q, docs in qrels.items() if set(docs) <= present}
    rows = [f"{q}\t{d}\t{g}" for q, docs in kept.items() for d, g in docs.items()]
    (folder / "qrels" / "train.tsv").write_bytes(("query-id\tcorpus-id\tscore\r\n" + "\r\n".join(rows) + "\r\n")
                                                 .encode())
    (folder / "queries.jsonl").write_bytes((SCIFACT / "queries.jsonl").read_bytes())
    return folder


def table(out: str) -> dict[str, list[float]]:
    return {m.group(1): [float(x) for x in m.group(2).split("|")[:4]]
            for m in re.finditer(r"^\| (vector|keyword|hybrid) \|(.*)\|$", out, re.M)}


def test_eval_command_scores_every_mode_and_reuses_the_collection(scifact_slice, tmp_path, capsys):
    store = str(tmp_path / "store")
    assert main(["eval", "--beir", str(scifact_slice), "--split", "train", "--store", store]) == 0
    first = capsys.readouterr()
    rows = table(first.out)
    assert set(rows) == {"vector", "keyword", "hybrid"}
    for values in rows.values():
        assert all(0.0 <= v <= 1.0 for v in values)
    ndcg = {mode: values[0] for mode, values in rows.items()}
    # 15 claims against 150 abstracts: an easy haystack, too few claims to rank the modes
    # (the full train split does that: hybrid 0.736, BM25 0.694, MiniLM 0.657).
    assert min(ndcg.values()) > 0.7
    last = first.out.strip().splitlines()[-1]
    assert last == f"nDCG@10 {max(ndcg.values()):.4f}"
    assert "150 documents in 150 chunks" in first.err and "collection 'beir-scifact-slice'" in first.err

    # Second run: the collection is there, nothing is embedded again, same numbers.
    assert main(["eval", "--beir", str(scifact_slice), "--split", "train", "--store", store,
                 "--mode", "hybrid"]) == 0
    second = capsys.readouterr()
    assert "(0 chunks embedded now)" in second.err
    assert table(second.out) == {"hybrid": rows["hybrid"]}


def test_eval_command_with_a_chunker_scores_documents_by_their_best_chunk(scifact_slice, tmp_path, capsys):
    qrels = scifact_slice / "qrels" / "train.tsv"
    assert main(["eval", "--beir", str(scifact_slice), "--qrels", str(qrels), "--store", str(tmp_path / "s"),
                 "--mode", "keyword", "--chunker", "sliding", "--size", "60", "--overlap", "10"]) == 0
    out = capsys.readouterr()
    assert "collection 'beir-scifact-slice-sliding-60-10-words'" in out.err
    chunks = int(re.search(r"150 documents in (\d+) chunks", out.err).group(1))
    assert chunks > 300  # abstracts run to a few hundred words
    assert table(out.out)["keyword"][0] > 0.6


def test_eval_command_reports_bad_input(tmp_path, capsys):
    assert main(["eval", "--beir", str(tmp_path / "missing"), "--store", str(tmp_path / "s")]) == 1
    assert "not a folder" in capsys.readouterr().err
