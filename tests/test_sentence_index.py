"""core.sentence_index: sentences cut from chunks (titles kept, headings and code dropped), and the index
of a real collection: built once per version, kept on disk, rebuilt after a write, vectors of the real model."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ROOT

import core.sentence_index as sentence_index_module
from core.config import DEFAULT_CHUNKING
from core.pipeline import LoadOptions, Upload, ingest
from core.sentence_index import sentence_index, sentence_spans, sentences
from core.types import Filter
from core.workspace import open_workspace

BINGLEY = (b"Mr. Bingley was good-looking and gentlemanlike. He had a pleasant countenance, and easy, "
           b"unaffected manners.\n\nHis sisters were fine women, with an air of decided fashion.")
CODE = b"A [code fence](@) is a sequence of at least three consecutive backtick characters (`` ` ``)."


def test_sentences_keep_titles_and_drop_headings():
    text = ("Chapter 1\n\nMr. Bingley came to Netherfield. He was\nrich, said Mrs. Bennet! Was he? Yes.\n\n"
            "``` markdown - # Heading - [foo]: /url ```")
    assert sentences(text) == ["Mr. Bingley came to Netherfield.", "He was rich, said Mrs. Bennet!"]


def test_markup_sentences_are_kept_and_code_blocks_are_not():
    text = ("A [code fence](@) is a sequence of at least three consecutive backtick characters (`` ` ``) or "
            "tildes (`~`).\n\nA [bullet list marker](@) is a `-`, `+`, or `*` character.\n\n"
            "```````````````````````````````` example\n# foo\n.\n<h1>foo</h1>\n````````````````````````````````")
    assert sentences(text) == ["A [code fence](@) is a sequence of at least three consecutive backtick characters "
                               "(`` ` ``) or tildes (`~`).",
                               "A [bullet list marker](@) is a `-`, `+`, or `*` character."]


def test_emphasis_and_long_link_targets_do_not_make_prose_code():
    comment = ("An [HTML comment](@) consists of `<!-->`, `<!--->`, or `<!--`, a string of characters not including "
               "the string `-->`, and `-->` (see the [HTML spec](https://html.spec.whatwg.org/multipage/parsing.html"
               "#markup-declaration-open-state)).")
    text = (f"_To Mrs. Saville, England._\n\n{comment}\n\n| foo | bar | baz | qux |\n\n"
            "if (x == y) { return a[i] * b[j]; } // && ||")
    assert sentences(text) == ["_To Mrs. Saville, England._", comment]


def test_sentence_spans_point_into_the_original_text():
    text = "Chapter 1\n\nMr. Bingley came  to\nNetherfield. He was rich!\n\nShort one."
    spans = sentence_spans(text)
    assert [" ".join(text[a:b].split()) for a, b in spans] == sentences(text) == ["Mr. Bingley came to Netherfield."]
    assert text[spans[0][0]:spans[0][1]] == "Mr. Bingley came  to\nNetherfield."


@pytest.fixture
def workspace(tmp_path, minilm):
    workspace = open_workspace(str(tmp_path / "store"), "novel", create=True)
    ingest([Upload("bingley.txt", BINGLEY)], workspace.collection, workspace.embedder, DEFAULT_CHUNKING,
           LoadOptions(category="novel"))
    return workspace


def test_the_index_holds_every_sentence_with_the_models_vector_and_its_place(workspace, tmp_path, minilm):
    index = sentence_index(workspace.collection, minilm, workspace.store.url, cache_dir=tmp_path / "cache")
    assert index.texts == ["Mr. Bingley was good-looking and gentlemanlike.",
                           "He had a pleasant countenance, and easy, unaffected manners.",
                           "His sisters were fine women, with an air of decided fashion."]
    # The model's vectors (one sentence is also a sample's, whose vector may come from the shipped float16 ones)
    assert (index.vectors * minilm.embed(index.texts)).sum(axis=1).min() > 0.999
    for text, chunk, (start, end) in zip(index.texts, index.chunk_of, index.spans):
        assert " ".join(index.chunks[chunk].text[start:end].split()) == text
    previous, following = index.neighbours
    assert list(previous) == [0, 0, 1] and list(following) == [1, 2, 2]
    assert index.bm25.scores("sisters")[2] > 0 == index.bm25.scores("sisters")[0]


def test_the_index_is_kept_per_version_and_follows_writes(workspace, tmp_path, minilm, monkeypatch):
    cache = tmp_path / "cache"
    first = sentence_index(workspace.collection, minilm, workspace.store.url, cache_dir=cache)
    assert sentence_index(workspace.collection, minilm, workspace.store.url, cache_dir=cache) is first  # memory
    monkeypatch.setattr(sentence_index_module, "_MEMORY", {})  # a new process: read from disk, not rebuilt
    monkeypatch.setattr(sentence_index_module, "build_sentence_index", lambda *a, **k: pytest.fail("rebuilt"))
    again = sentence_index(workspace.collection, minilm, workspace.store.url, cache_dir=cache)
    assert again.texts == first.texts and np.array_equal(again.vectors, first.vectors)
    monkeypatch.undo()

    ingest([Upload("spec.md", CODE)], workspace.collection, workspace.embedder, DEFAULT_CHUNKING,
           LoadOptions(category="spec"))
    after = sentence_index(workspace.collection, minilm, workspace.store.url, cache_dir=cache)
    assert len(after) == len(first) + 1 and CODE.decode() in after.texts
    assert len(list(cache.glob("*.npz"))) == 1  # the older version's files are gone
    spec_only = after.allowed(Filter(categories=("spec",)))
    assert [t for t, ok in zip(after.texts, spec_only) if ok] == [CODE.decode()]


def test_a_damaged_index_file_is_rebuilt(workspace, tmp_path, minilm, monkeypatch):
    cache = tmp_path / "cache"
    first = sentence_index(workspace.collection, minilm, workspace.store.url, cache_dir=cache)
    for path in cache.glob("*.npz"):
        path.write_bytes(b"not an npz")
    monkeypatch.setattr(sentence_index_module, "_MEMORY", {})
    assert sentence_index(workspace.collection, minilm, workspace.store.url, cache_dir=cache).texts == first.texts


# One process asking for the index: its build (if it builds) waits for the file `go` before it starts, so the test
# can bring a second process to the same missing index meanwhile. It prints "building" or each "waiting" report.
ASKER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import core.sentence_index as module
    from core.workspace import open_workspace

    store, cache, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    real, builds = module.build_sentence_index, []

    def held(*args, **kwargs):
        builds.append(1)
        print("building", flush=True)
        while not go.exists():
            time.sleep(0.05)
        return real(*args, **kwargs)

    def report(event):
        if event.stage.startswith("waiting for another build"):
            print("waiting", flush=True)

    module.build_sentence_index = held
    workspace = open_workspace(store, "novel")
    index = module.sentence_index(workspace.collection, workspace.embedder, workspace.store.url, report, cache)
    print(json.dumps({"builds": len(builds), "texts": index.texts, "vectors": index.vectors.tolist()}), flush=True)
""")


def test_two_processes_missing_the_same_index_build_it_once(workspace, tmp_path):
    """The second asks while the first builds: it waits (reporting so) for the first, then reads what the first wrote."""
    cache, go = tmp_path / "cache", tmp_path / "go"

    def asker() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", ASKER, workspace.store.url, str(cache), str(go)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first = asker()
    try:
        assert first.stdout.readline().strip() == "building"
        second = asker()
        try:
            assert second.stdout.readline().strip() == "waiting"
            go.touch()
            out_second, err_second = second.communicate(timeout=120)
        finally:
            second.kill()
        out_first, err_first = first.communicate(timeout=120)
    finally:
        first.kill()
    built = json.loads(out_first.strip().splitlines()[-1])
    read = json.loads(out_second.strip().splitlines()[-1])
    assert first.returncode == second.returncode == 0, (err_first, err_second)
    assert built["builds"] == 1 and read["builds"] == 0
    assert read["texts"] == built["texts"] and len(built["texts"]) == 3 and read["vectors"] == built["vectors"]


def test_a_file_cut_by_another_splitting_is_not_read(workspace, tmp_path, minilm, monkeypatch):
    cache = tmp_path / "cache"
    first = sentence_index(workspace.collection, minilm, workspace.store.url, cache_dir=cache)
    built = []
    build = sentence_index_module.build_sentence_index
    monkeypatch.setattr(sentence_index_module, "build_sentence_index", lambda *a, **k: built.append(1) or build(*a, **k))
    monkeypatch.setattr(sentence_index_module, "_MEMORY", {})
    monkeypatch.setattr(sentence_index_module, "SPLITTING", sentence_index_module.SPLITTING + "-next")
    assert sentence_index(workspace.collection, minilm, workspace.store.url, cache_dir=cache).texts == first.texts
    assert built == [1] and len(list(cache.glob("*.npz"))) == 1  # built again; the older splitting's file removed
