"""The built-in samples: what of each file the app ingests."""
from __future__ import annotations

import random

import numpy as np

from core.embedders import normalise
from core.embedding_cache import EmbeddingCache, text_hash
from core.samples import (PrecomputedEmbedder, ensure_samples, load_shipped_vectors, sample_chunks, sample_sentences,
                          samples, seed_sentence_vectors)
from core.stores import open_store
from core.types import content_hash


def test_gutenberg_books_are_ingested_without_header_and_license():
    by_file = {s.path.name: s for s in samples()}
    assert {s.category for s in by_file.values()} == {"romance novel", "gothic novel", "technical spec"}
    for name, first_words in (("pg1342_pride_and_prejudice.txt", "It is a truth universally acknowledged"),
                              ("pg84_frankenstein.txt", "You will rejoice to hear")):
        whole = by_file[name].path.read_text(encoding="utf-8")
        body = by_file[name].body()
        assert "PROJECT GUTENBERG" in whole and "Project Gutenberg" in whole
        assert "PROJECT GUTENBERG" not in body and "Project Gutenberg License" not in body
        assert first_words in body and body in whole and len(body) > 0.9 * len(whole)
    spec = by_file["commonmark_spec.txt"]
    assert spec.body() == spec.path.read_text(encoding="utf-8")  # not a Gutenberg file: all of it


def test_shipped_vectors_are_the_live_models_vectors_of_todays_chunks(minilm):
    shipped = load_shipped_vectors()
    assert shipped is not None and shipped.model == minilm.name
    texts = sorted({c.text for c in sample_chunks(minilm)})
    # Same chunks: every chunk the samples are cut into is shipped, and nothing else is.
    assert {content_hash(t) for t in texts} == set(shipped.vectors)
    picked = random.Random(14).sample(texts, 48)
    live = minilm.embed(picked)
    stored = normalise(np.stack([shipped.lookup(t) for t in picked]).astype(np.float32))
    cosines = (live * stored).sum(axis=1)
    assert cosines.min() >= 0.999, cosines.min()


def test_shipped_sentence_vectors_are_the_live_models_and_seed_the_cache_once(tmp_path, minilm):
    texts = sample_sentences(minilm)
    cache = EmbeddingCache(tmp_path / "embeddings.sqlite")
    assert seed_sentence_vectors(minilm, cache) == len(texts)  # every sentence the index will cut
    assert seed_sentence_vectors(minilm, cache) == 0  # already there
    assert len(cache.get(minilm.info, [text_hash(t) for t in texts])) == len(texts)  # the same sentences
    picked = random.Random(14).sample(texts, 48)
    stored = cache.get(minilm.info, [text_hash(t) for t in picked])
    assert len(stored) == len(picked)
    cosines = (minilm.embed(picked) * np.stack([stored[text_hash(t)] for t in picked])).sum(axis=1)
    assert cosines.min() >= 0.999, cosines.min()


def test_ensure_samples_upserts_shipped_vectors_and_embeds_only_what_is_not_shipped(tmp_path, minilm):
    counting = CountingEmbedder(minilm)
    report = ensure_samples(open_store(str(tmp_path / "store")), counting)
    assert report.chunks_added == len({c.text for c in sample_chunks(minilm)}) and not report.failures
    assert counting.texts == 0  # every chunk came from the shipped file
    assert report.chunks_embedded == 0 and "0 embedded" in report.summary()  # and the report says so
    # A text that is not shipped (the chunking or a file changed) is embedded by the model.
    fast = PrecomputedEmbedder(counting, load_shipped_vectors())
    vectors = fast.embed(["A sentence that is not in any sample.", texts_of(minilm)[0]])
    assert counting.texts == 1 and fast.embedded == 1
    assert float(vectors[0] @ minilm.embed(["A sentence that is not in any sample."])[0]) > 0.9999
    assert again_is_a_no_op(tmp_path / "store", counting)


class CountingEmbedder:
    """The real model, counting the texts it is asked to embed."""

    def __init__(self, model):
        self._model, self.texts = model, 0
        self.name, self.dimension, self.max_tokens, self.info = model.name, model.dimension, model.max_tokens, model.info

    def count_tokens(self, texts):
        return self._model.count_tokens(texts)

    def embed(self, texts):
        self.texts += len(texts)
        return self._model.embed(texts)


def texts_of(embedder) -> list[str]:
    return [c.text for c in sample_chunks(embedder)]


def again_is_a_no_op(folder, embedder) -> bool:
    report = ensure_samples(open_store(str(folder)), embedder)
    return report.chunks_added == 0 and report.chunks_skipped > 0


def test_progress_lines_for_logs_each_stage_and_then_every_few_seconds(capsys):
    from core.cli.samples_cmd import LOG_EVERY_S, log_lines
    from core.types import ProgressEvent

    now = [0.0]
    show = log_lines("samples", clock=lambda: now[0])
    for done in range(5):  # one stage, five events within a second: one line
        show(ProgressEvent("embedding", done, 10, "a.txt"))
    now[0] += LOG_EVERY_S
    show(ProgressEvent("embedding", 8, 10, "a.txt"))
    show(ProgressEvent("keyword index", 10, 10))
    assert capsys.readouterr().err.splitlines() == [
        "samples: embedding 0% a.txt", "samples: embedding 80% a.txt", "samples: keyword index 100%"]
