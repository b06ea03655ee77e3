"""Near-duplicate finder on real text: a Frankenstein letter ingested twice (once with a small edit)
beside an unrelated Pride and Prejudice chapter, real MiniLM, real Chroma folder."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import LONG_DOCS
from core.duplicates import find_duplicates, word_diff
from core.errors import ExplorerError
from core.pipeline import LoadOptions, Upload, ingest
from core.stores import open_store
from core.types import ChunkSettings, Filter

ORIGINAL, EDITED, UNRELATED = "walton_letter.txt", "walton_letter_copy.txt", "bennet_chapter.txt"
EDIT = ("I feel my heart glow with an enthusiasm", "I feel my heart burn with an enthusiasm")


def _between(path, start: str, end: str) -> str:
    text = path.read_text(encoding="utf-8")
    first = text.index(start)
    return text[first:text.index(end, first)]


@pytest.fixture(scope="module")
def collection(tmp_path_factory, minilm):
    letter = _between(LONG_DOCS / "pg84_frankenstein.txt", "St. Petersburgh, Dec. 11th", "Letter 2")
    assert EDIT[0] in letter
    chapter = _between(LONG_DOCS / "pg1342_pride_and_prejudice.txt", "It is a truth universally", "CHAPTER III")
    store = open_store(str(tmp_path_factory.mktemp("dup-store")))
    collection = store.open_collection("dups", minilm.info)
    settings = ChunkSettings(method="recursive", size=128, overlap=0, unit="tokens")
    for name, text, category in ((ORIGINAL, letter, "letters"), (EDITED, letter.replace(*EDIT), "letters"),
                                 (UNRELATED, chapter, "novel")):
        ingest([Upload(name, text.encode("utf-8"))], collection, minilm, settings, LoadOptions(category=category))
    return collection


def test_the_copied_letter_pairs_with_its_original_and_nothing_else_does(collection):
    report = find_duplicates(collection, threshold=0.95, neighbours=3)
    assert report.chunks_scanned == collection.count()
    assert report.pairs
    for pair in report.pairs:
        assert {pair.a.source, pair.b.source} == {ORIGINAL, EDITED}, pair
        assert 0.95 <= pair.similarity <= 1.0
    exact = [p for p in report.pairs if p.exact]
    edited = [p for p in report.pairs if not p.exact]
    # Every chunk of the letter but the edited one is an identical copy under the other name.
    letter_chunks = len(collection.get(where=Filter(sources=(ORIGINAL,))).ids)
    assert len(exact) == letter_chunks - 1
    assert all(p.similarity == pytest.approx(1.0, abs=1e-5) for p in exact)
    assert len(edited) == 1 and edited[0].similarity < 1.0
    assert EDIT[1] in edited[0].a.text + edited[0].b.text
    # Each original chunk and its copy form a group of two; no group reaches the novel.
    assert len(report.groups) == letter_chunks
    assert all(len(g.chunks) == 2 and [d.source for d in g.documents] == [ORIGINAL, EDITED] for g in report.groups)


def test_the_diff_of_the_edited_pair_is_the_one_word(collection):
    pair = next(p for p in find_duplicates(collection, threshold=0.95, neighbours=3).pairs if not p.exact)
    left, right = (pair.a, pair.b) if pair.a.source == ORIGINAL else (pair.b, pair.a)
    changes = [p for p in word_diff(left.text, right.text) if p.op != "equal"]
    assert [(c.op, c.left, c.right) for c in changes] == [("replace", "glow", "burn")]
    assert "".join(p.left for p in word_diff(left.text, right.text)) == left.text


def test_a_category_filter_and_a_strict_threshold(collection):
    assert find_duplicates(collection, 0.95, 3, where=Filter(categories=("novel",))).pairs == ()
    strict = find_duplicates(collection, threshold=1.0, neighbours=3)
    assert strict.pairs and all(p.exact for p in strict.pairs)
    with pytest.raises(ExplorerError):
        find_duplicates(collection, threshold=1.5)


def _pair_keys(report):
    return [(p.a.id, p.b.id, round(p.similarity, 5)) for p in report.pairs]


def test_one_scan_at_the_lowest_threshold_answers_every_higher_one(collection):
    low = find_duplicates(collection, threshold=0.5, neighbours=3)
    for threshold in (0.7, 0.95, 1.0):
        direct = find_duplicates(collection, threshold=threshold, neighbours=3)
        filtered = low.at(threshold)
        assert _pair_keys(filtered) == _pair_keys(direct)
        assert [[c.id for c in g.chunks] for g in filtered.groups] == [[c.id for c in g.chunks] for g in direct.groups]
    with pytest.raises(ExplorerError, match="new scan"):
        low.at(0.4)


def test_the_blocked_pass_finds_exactly_the_pairs_of_the_full_matrix(collection, monkeypatch):
    everything = collection.get(include_embeddings=True)
    vectors = everything.embeddings / np.linalg.norm(everything.embeddings, axis=1, keepdims=True)
    similarity = vectors @ vectors.T
    threshold = 0.6
    # The reference: every pair of distinct texts at or above the threshold, straight from the full matrix.
    first_of_text = {}
    for row, text in enumerate(everything.texts):
        first_of_text.setdefault(text, row)
    rows = sorted(first_of_text.values())
    expected = {tuple(sorted((everything.ids[i], everything.ids[j])))
                for x, i in enumerate(rows) for j in rows[x + 1:] if similarity[i, j] >= threshold}
    assert len(expected) > 20  # enough pairs for the blocks and the pruning to matter
    # Tiny blocks and early pruning (many blocks, many cuts) give the same pairs as one big block.
    monkeypatch.setattr("core.duplicates.BLOCK_CELLS", 7 * len(everything.ids))
    monkeypatch.setattr("core.duplicates.PRUNE_AT", 10)
    report = find_duplicates(collection, threshold=threshold, neighbours=len(everything.ids))
    near = {(p.a.id, p.b.id) if p.a.id < p.b.id else (p.b.id, p.a.id) for p in report.pairs if not p.exact}
    assert near == expected


def test_at_most_k_partners_per_chunk_unless_the_other_end_ranks_it_in_its_own_top_k(collection):
    capped = find_duplicates(collection, threshold=0.5, neighbours=1)
    everything = find_duplicates(collection, threshold=0.5, neighbours=10_000)
    near = [p for p in everything.pairs if not p.exact]
    nearest = {}
    for p in near:  # pairs are best first: the first pair seen for a chunk is its nearest
        nearest.setdefault(p.a.id, (p.a.id, p.b.id))
        nearest.setdefault(p.b.id, (p.a.id, p.b.id))
    kept = {(p.a.id, p.b.id) for p in capped.pairs if not p.exact}
    assert kept == set(nearest.values())
    assert len(kept) < len(near)
