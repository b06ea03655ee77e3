"""The ingest pipeline on real text: idempotence, replacement, rollback, progress."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import LONG_DOCS
from core.pipeline import LoadOptions, Upload, ingest
from core.stores import open_store
from core.types import ChunkSettings, ProgressEvent

SETTINGS = ChunkSettings(method="recursive", size=120, overlap=0, unit="tokens")


def excerpt(name: str, chars: int = 30_000) -> Upload:
    """The opening of a real long document, as an upload (keeps the suite quick)."""
    text = (LONG_DOCS / name).read_text(encoding="utf-8")[:chars]
    return Upload(name, text.encode("utf-8"))


@pytest.fixture
def collection(store_dir: Path, minilm):
    return open_store(str(store_dir)).open_collection("docs", minilm.info)


def test_ingest_then_reingest_adds_nothing(collection, minilm):
    docs = [excerpt("pg1342_pride_and_prejudice.txt"), excerpt("pg84_frankenstein.txt")]
    first = ingest(docs, collection, minilm, SETTINGS, LoadOptions(category="novel"))
    assert first.files == 2 and not first.failures
    assert first.chunks_added == collection.count() > 20
    again = ingest(docs, collection, minilm, SETTINGS, LoadOptions(category="novel"))
    assert again.chunks_added == 0
    assert again.chunks_skipped == first.chunks_added
    assert collection.count() == first.chunks_added
    assert {s.source for s in collection.sources()} == {d.name for d in docs}


def test_changed_file_or_settings_replace_old_chunks(collection, minilm):
    doc = excerpt("pg84_frankenstein.txt", 20_000)
    ingest([doc], collection, minilm, SETTINGS)
    finer = ChunkSettings(method="recursive", size=60, overlap=0, unit="tokens")
    report = ingest([doc], collection, minilm, finer)
    assert report.chunks_removed > 0
    stored = collection.get()
    assert {m["chunking"] for m in stored.metadatas} == {finer.key()}
    assert collection.count() == report.chunks_added

    edited = Upload(doc.name, doc.data[:10_000])
    report = ingest([edited], collection, minilm, finer)
    assert collection.count() == report.chunks_added + report.chunks_skipped
    assert all(m["end"] <= 10_000 for m in collection.get().metadatas)


def test_bad_file_is_reported_and_good_files_still_go_in(collection, minilm):
    good = excerpt("commonmark_spec.txt", 15_000)
    bad = [Upload("empty.txt", b""), Upload("binary.txt", bytes(range(256)) * 40)]
    report = ingest([bad[0], good, bad[1]], collection, minilm, SETTINGS)
    assert report.files == 1
    assert sorted(f.source for f in report.failures) == ["binary.txt", "empty.txt"]
    assert {s.source for s in collection.sources()} == {"commonmark_spec.txt"}


def test_failure_half_way_through_a_file_rolls_it_back(collection, minilm):
    rows = [f'{{"id": {i}, "text": "Row {i}: {"lorem ipsum " * 20}"}}' for i in range(400)]
    broken = Upload("rows.jsonl", ("\n".join(rows) + "\n{not json\n").encode())
    before = collection.count()
    report = ingest([broken], collection, minilm, SETTINGS, LoadOptions(text_field="text"), batch_size=32)
    assert [f.source for f in report.failures] == ["rows.jsonl"]
    assert "line 401" in str(report.failures[0])
    assert collection.count() == before


def test_progress_reaches_the_end(collection, minilm):
    events: list[ProgressEvent] = []
    upload = excerpt("pg1342_pride_and_prejudice.txt", 12_000)
    ingest([upload], collection, minilm, SETTINGS, progress=events.append)
    stages = [e.stage for e in events]
    assert "embedding" in stages and stages[-1] == "done"
    embedded = [e.done for e in events if e.stage == "embedding"]
    assert embedded == sorted(embedded)
    assert events[-1].done == events[-1].total == len(upload.data)  # bytes read


def test_keyword_index_follows_ingest(collection, minilm):
    ingest([excerpt("pg84_frankenstein.txt", 40_000)], collection, minilm, SETTINGS)
    hits = collection.keyword_search("Walton", 3)
    assert hits and all("Walton" in h.text for h in hits)
