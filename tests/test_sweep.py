"""Chunking sweep on a tiny real SciFact subset (real MiniLM, real Chroma scratch store), and the
parsing of question CSVs and grid specs."""
from __future__ import annotations

import json

import pytest

from conftest import SCIFACT
from core.cli import main
from core.evaluation import WHOLE_DOCUMENTS, evaluate, load_beir
from core.pipeline import Upload
from core.stores import open_store
from core.sweep import (SweepError, beir_corpus, beir_questions, beir_subset, collection_name, corpus_tokens,
                        csv_questions, embedding_speed, estimate_seconds, files_corpus, grid, missing_passages,
                        parse_setting, run_sweep, _line_blocks)
from core.types import ChunkSettings

SMALL = ChunkSettings(method="recursive", size=128, overlap=0, unit="tokens")


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    return beir_subset(SCIFACT, "train", max_queries=10, max_documents=40,
                       out_root=tmp_path_factory.mktemp("subsets"))


@pytest.fixture(scope="module")
def swept(subset, minilm, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("sweeps")
    events = []
    rows = run_sweep(open_store(str(scratch)), beir_corpus(subset), beir_questions(subset), minilm,
                     [WHOLE_DOCUMENTS, SMALL], "hybrid", 10, events.append, results_dir=scratch / "results")
    return scratch, rows, events


def test_subset_keeps_every_judged_document(subset):
    documents = [json.loads(line)["_id"] for line in (subset.folder / "corpus.jsonl").read_text().splitlines()]
    assert len(documents) == 40 == len(set(documents))
    assert len(subset.queries) == 10
    assert {d for judged in subset.qrels.values() for d in judged} <= set(documents)
    assert list(subset.queries) == list(load_beir(SCIFACT, "train").queries)[:10]


def test_sweep_scores_each_setting_and_whole_documents_match_the_evaluator(swept, subset, minilm):
    scratch, (whole, small), events = swept
    for row in (whole, small):
        assert 0 <= row.ndcg_10 <= 1 and 0 <= row.recall_k <= 1 and row.queries == 10
    assert whole.chunks == 40 and small.chunks > 40
    assert whole.ndcg_10 > 0.5  # the answers are among 40 documents: MiniLM + BM25 find most
    collection = open_store(str(scratch)).open_collection(whole.collection, minilm.info, create=False)
    (expected,) = evaluate(collection, minilm, subset, modes=("hybrid",))
    assert whole.ndcg_10 == pytest.approx(expected.scores.ndcg_10, abs=1e-9)
    assert whole.recall_k == pytest.approx(expected.scores.recall_10, abs=1e-9)
    assert events[-1].stage == "done" and events[-1].done == events[-1].total
    assert all(e.total == 2000 for e in events) and any("recursive-128" in e.stage for e in events)


def test_a_second_sweep_reuses_the_collections_and_the_scores(swept, subset, minilm):
    scratch, rows, _ = swept
    again = run_sweep(open_store(str(scratch)), beir_corpus(subset), beir_questions(subset), minilm,
                      [SMALL], "hybrid", 10)  # no results_dir: searched again, nothing embedded
    assert again[0].embedded_now == 0 and again[0].ndcg_10 == pytest.approx(rows[1].ndcg_10)
    assert again[0].collection == collection_name(beir_corpus(subset), minilm, SMALL)


def test_cli_sweep_prints_a_table(swept, capsys):
    scratch, rows, _ = swept
    code = main(["sweep", "--beir", str(SCIFACT), "--split", "train", "--max-queries", "10", "--max-docs", "40",
                 "--chunkers", "whole,recursive:128:0", "--scratch", str(scratch)])
    out = capsys.readouterr().out
    assert code == 0
    assert f"| fixed-1000000000-0-chars | 40 | {rows[0].ndcg_10:.4f} |" in out
    assert f"| recursive-128-0-tokens | {rows[1].chunks} | {rows[1].ndcg_10:.4f} |" in out
    assert main(["sweep", "--beir", str(SCIFACT), "--chunkers", "zigzag:1:0"]) == 1
    assert "method:size:overlap" in capsys.readouterr().err


def test_question_csv_and_grid_parsing():
    sources = ["a.txt", "b.md"]
    questions = csv_questions("Question,Expected_Source\nWhat is a?,a.txt\nBoth?,a.txt; b.md\n,\n", sources)
    assert dict(questions.queries) == {"q1": "What is a?", "q2": "Both?"}
    assert questions.qrels["q2"] == {"a.txt": 1, "b.md": 1}
    with pytest.raises(SweepError, match="c.txt is not among"):
        csv_questions("question,expected_source\nWhat?,c.txt\n", sources)
    with pytest.raises(SweepError, match="columns question, expected_source"):
        csv_questions("query,doc\nWhat?,a.txt\n", sources)
    with pytest.raises(SweepError, match="line 2"):
        csv_questions("question,expected_source\nWhat?,\n", sources)
    assert parse_setting("sliding:100:20:words") == ChunkSettings("sliding", 100, 20, "words")
    assert parse_setting("whole") == WHOLE_DOCUMENTS
    with pytest.raises(Exception, match="overlap"):
        parse_setting("recursive:64:64")
    assert [s.key() for s in grid(["recursive", "fixed"], [128, 64], [0, 100], "chars")] == [
        "recursive-64-0-chars", "recursive-128-0-chars", "recursive-128-100-chars",
        "fixed-64-0-chars", "fixed-128-0-chars", "fixed-128-100-chars"]
    with pytest.raises(SweepError, match="empty"):
        grid([], [128], [0])
    # The corpus fingerprint follows content and names, not where the files are.
    one = files_corpus([Upload("a.txt", b"alpha")])
    assert one.fingerprint == files_corpus([Upload("a.txt", b"alpha")]).fingerprint
    assert one.fingerprint != files_corpus([Upload("a.txt", b"alpha!")]).fingerprint


def test_passage_questions_are_judged_per_chunk_holding_the_passage(minilm, tmp_path):
    """Two documents about the same thing: per document both settings are perfect; per passage the
    setting whose chunks cut the answer apart is not."""
    filler = " ".join(f"Sentence {i} says little about anything in particular." for i in range(60))
    doc = (f"{filler}\n\nThe harbour master keeps the lighthouse key in a tin box under the third step "
           f"of the pier.\n\n{filler}")
    sources = [Upload("harbour.txt", doc.encode()), Upload("other.txt", filler.encode())]
    corpus = files_corpus(sources)
    text = ("question,expected_source,expected_passage\n"
            "Where is the lighthouse key kept?,harbour.txt,"
            "keeps the lighthouse key in a tin box under the third step of the pier\n")
    questions = csv_questions(text, ["harbour.txt", "other.txt"])
    assert questions.passages == {"q1": "keeps the lighthouse key in a tin box under the third step of the pier"}
    assert missing_passages(corpus, questions) == []
    assert missing_passages(files_corpus(sources[1:]), questions) == ["Where is the lighthouse key kept?"]
    whole_sentences = ChunkSettings(method="recursive", size=64, overlap=0, unit="tokens")
    cut_words = ChunkSettings(method="fixed", size=5, overlap=0, unit="words")  # no chunk holds 15 words
    rows = run_sweep(open_store(str(tmp_path / "scratch")), corpus, questions, minilm,
                     [whole_sentences, cut_words], "hybrid", 10)
    assert rows[0].recall_k == 1.0 and rows[0].ndcg_10 > 0.5
    assert rows[1].recall_k == 0.0 and rows[1].ndcg_10 == 0.0


def test_estimate_counts_only_new_settings(minilm, tmp_path):
    store = open_store(str(tmp_path / "scratch"))
    corpus = files_corpus([Upload("a.txt", b"Some words to embed. " * 200)])
    events = []
    tokens = corpus_tokens(corpus, minilm, events.append)
    assert 800 <= tokens <= 1400
    assert events[-1].done == events[-1].total == len("Some words to embed. " * 200)
    settings = [SMALL, ChunkSettings(method="recursive", size=128, overlap=64, unit="tokens")]
    before = estimate_seconds(store, corpus, minilm, settings, tokens, tokens_per_second=1000.0)
    assert before.new_settings == 2 and before.tokens == tokens * 3  # overlap 64 of 128 reads it twice
    assert before.seconds == pytest.approx(tokens * 3 / 1000.0)
    store.open_collection(collection_name(corpus, minilm, SMALL), minilm.info)
    after = estimate_seconds(store, corpus, minilm, settings, tokens, tokens_per_second=1000.0)
    assert after.new_settings == 1 and after.tokens == tokens * 2
    assert embedding_speed(minilm, ["A short text to time the model with."] * 8) > 0


def test_embedded_now_counts_what_the_model_embedded_not_what_the_cache_gave(swept, subset, minilm, tmp_path):
    """A fresh store adds every chunk again, but their vectors come from the embedding cache: 0 embedded."""
    _, rows, _ = swept
    fresh = run_sweep(open_store(str(tmp_path / "fresh")), beir_corpus(subset), beir_questions(subset), minilm,
                      [SMALL], "hybrid", 10)
    assert fresh[0].chunks == rows[1].chunks > 0 and fresh[0].embedded_now == 0


def test_tokens_are_counted_a_block_of_whole_lines_at_a_time():
    """A big corpus file is counted in blocks (so it reports progress) cut only after a newline: nothing lost, no
    word split; a text without a newline stays one block."""
    text = "".join(f"line {i} of the corpus\n" for i in range(1000))
    blocks = _line_blocks(text, 500)
    assert "".join(blocks) == text and 20 < len(blocks) < 50 and all(b.endswith("\n") for b in blocks)
    assert _line_blocks("one long line " * 100, 50) == ["one long line " * 100]
