"""Near-duplicate finder on real text: a Frankenstein letter ingested twice (once with a small edit)
beside an unrelated Pride and Prejudice chapter, real MiniLM, real Chroma folder."""
from __future__ import annotations

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
    assert all(len(g.chunks) == 2 and g.sources == (ORIGINAL, EDITED) for g in report.groups)


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
