"""What only the Chroma folder store does: someone else's folder is never changed by looking at
it, a folder made by another chromadb is refused before chromadb can migrate it, a missing
folder is not created by listing, another process's writes are seen (the client reopened
through chromadb's public `close()`), and `check()` says what is wrong."""
from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings

from conftest import ROOT
from core.errors import CollectionNotFound, ReadOnlyCollection, StoreDamaged, StoreFull, StoreIncompatible
from core.stores import open_store
from core.stores.chroma import ChromaStore
from core.types import Chunk, EmbedderInfo, Filter

WORDS = ("glacier creature ice mountain valley river storm night fire letter ship sea north cold "
         "friend father sister marriage estate ball dance letter garden walk").split()


def texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=12)) for _ in range(n)]


def vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def plain_chroma_folder(path: Path, n: int = 40) -> np.ndarray:
    """A folder as another program makes it with plain chromadb: no embedder metadata, no version."""
    client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
    theirs = client.create_collection("theirs", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)
    embeddings = vectors(n)
    theirs.add(ids=[f"t{i}" for i in range(n)], embeddings=embeddings, documents=texts(n),
               metadatas=[{"source": f"doc-{i % 4}.txt", "category": "x"} for i in range(n)])
    client.close()
    return embeddings


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under `folder`, with a hash of each file's bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def test_someone_elses_folder_is_not_changed_by_reading_it(tmp_path):
    folder = tmp_path / "theirs"
    embeddings = plain_chroma_folder(folder)
    before = snapshot(folder)
    store = ChromaStore(str(folder))
    assert [(i.name, i.count) for i in store.list_collections()] == [("theirs", 40)]
    made_with = store.collection_embedder("theirs")
    collection = store.open_collection("theirs", made_with, create=False)
    assert not collection.ours and collection.count() == 40
    assert collection.vector_search(embeddings[3], 1)[0].id == "t3"
    hits = collection.keyword_search("glacier", 5, Filter(sources=("doc-1.txt",)))
    assert hits and all(h.metadata["source"] == "doc-1.txt" and "glacier" in h.text for h in hits)
    assert collection.check() == []
    with pytest.raises(ReadOnlyCollection, match="not made by this tool"):
        collection.upsert([Chunk("new", "text", "s", 0, 4, 0, {"source": "s"})], vectors(1))
    with pytest.raises(ReadOnlyCollection):
        collection.delete_source("doc-1.txt")
    with pytest.raises(ReadOnlyCollection):
        store.delete_collection("theirs")
    with pytest.raises(ReadOnlyCollection, match="made by another program"):
        store.open_collection("mine", EmbedderInfo("minilm", 384))
    assert snapshot(folder) == before  # no lock file, no keyword index, no metadata, no collection
    assert not collection._keyword.path.is_relative_to(folder)  # its keyword index lives in our cache

    # Its owner writes again: what we read follows (a new snapshot, a new version, a rebuilt keyword index).
    version = collection.version()
    client = chromadb.PersistentClient(path=str(folder), settings=Settings(anonymized_telemetry=False))
    client.get_collection("theirs").add(ids=["late"], embeddings=vectors(1, seed=9),
                                        documents=["zqlate avalanche"], metadatas=[{"source": "late.txt"}])
    client.close()
    assert collection.version() != version and collection.count() == 41
    assert [h.id for h in collection.keyword_search("avalanche", 3)] == ["late"]


def test_a_missing_folder_is_not_created_by_listing_or_opening(tmp_path):
    typo = tmp_path / "typo"
    store = open_store(str(typo))
    assert store.list_collections() == []
    with pytest.raises(CollectionNotFound):
        store.collection_embedder("library")
    with pytest.raises(CollectionNotFound):
        store.open_collection("library", EmbedderInfo("minilm", 384), create=False)
    assert not typo.exists()
    store.open_collection("library", EmbedderInfo("minilm", 384))  # only making a collection makes the store
    assert (typo / "chroma.sqlite3").is_file()


def test_a_folder_from_another_chromadb_version_is_refused_untouched(tmp_path):
    folder = tmp_path / "older"
    plain_chroma_folder(folder)
    (folder / "keyword").mkdir()  # one of ours: opening it here would migrate it in place
    # As an older chromadb left it: its last schema migration not applied yet (simulated on a
    # 1.5.9 folder; chromadb would apply it on opening, changing the folder in place).
    with sqlite3.connect(folder / "chroma.sqlite3") as db:
        db.execute("DELETE FROM migrations WHERE dir = 'sysdb' AND version = (SELECT max(version) FROM migrations "
                   "WHERE dir = 'sysdb')")
    before = snapshot(folder)
    store = open_store(str(folder))
    with pytest.raises(StoreIncompatible, match="older chromadb .* upgrade it in place.*Nothing was changed"):
        store.list_collections()
    with pytest.raises(StoreIncompatible):
        store.open_collection("theirs", EmbedderInfo("unknown", 0), create=False)
    assert snapshot(folder) == before
    not_chroma = tmp_path / "not-chroma"
    not_chroma.mkdir()
    (not_chroma / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreIncompatible, match="not a Chroma store"):
        open_store(str(not_chroma)).list_collections()


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from core.stores import open_store
    from core.types import Chunk, EmbedderInfo
    folder, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    collection = open_store(folder).open_collection("shared", EmbedderInfo("test", 16), create=False)
    rng = np.random.default_rng(lo)
    v = rng.normal(size=(hi - lo, 16)).astype(np.float32)
    collection.upsert([Chunk(f"p{i}", f"zqother{i} glacier", "other.txt", 0, 1, 0, {"source": "other.txt"})
                       for i in range(lo, hi)], v / np.linalg.norm(v, axis=1, keepdims=True))
    collection.delete_ids(["c0"])
""")


def test_another_process_writes_are_seen_and_reopening_leaks_nothing(tmp_path):
    folder = tmp_path / "store"
    store = open_store(str(folder))
    collection = store.open_collection("shared", EmbedderInfo("test", 16))
    ours = vectors(30, seed=1)
    collection.upsert([Chunk(f"c{i}", f"zqours{i} river", "ours.txt", 0, 1, 0, {"source": "ours.txt"})
                       for i in range(30)], ours)
    assert collection.vector_search(ours[5], 1)[0].id == "c5"
    threads_before = threading.active_count()
    opened = store.client.opened
    for round_ in range(5):
        subprocess.run([sys.executable, "-c", WRITER, str(folder), str(round_ * 10), str(round_ * 10 + 10)],
                       cwd=ROOT, check=True, capture_output=True, timeout=120)
        # The other process's rows are found by vector and by keyword search; its delete is seen.
        theirs = collection.get(ids=[f"p{round_ * 10 + 3}"], include_embeddings=True)
        assert collection.vector_search(theirs.embeddings[0], 1)[0].id == f"p{round_ * 10 + 3}"
        assert [h.id for h in collection.keyword_search(f"zqother{round_ * 10 + 7}", 3)] == [f"p{round_ * 10 + 7}"]
        assert "c0" not in {h.id for h in collection.vector_search(ours[0], 5)}
    assert collection.count() == 29 + 50
    assert store.client.opened == opened + 5  # one fresh client per foreign write, each through close()
    assert threading.active_count() <= threads_before + 2  # the closed clients' systems stopped
    assert collection.check() == []


def test_check_names_a_keyword_index_out_of_step_and_rebuild_fixes_it(tmp_path):
    store = open_store(str(tmp_path / "store"))
    collection = store.open_collection("checked", EmbedderInfo("test", 16))
    collection.upsert([Chunk(f"c{i}", t, "a.txt", 0, 1, 0, {"source": "a.txt"}) for i, t in enumerate(texts(50))],
                      vectors(50))
    assert collection.check() == []
    with collection._keyword.writing() as writer:  # damage: an index that lost rows but kept its stamp
        writer.remove(["c1", "c2"])
    problems = collection.check()
    assert len(problems) == 1 and "keyword index misses 2 chunks" in problems[0] and "repair" in problems[0]
    events = []
    collection.rebuild_keyword_index(progress=events.append)
    assert collection.check() == [] and events[-1].done == 50


def test_a_bulk_write_builds_the_keyword_index_once_at_its_end(tmp_path):
    store = open_store(str(tmp_path / "store"))
    collection = store.open_collection("bulk", EmbedderInfo("test", 16))
    chunks = [Chunk(f"c{i}", t, "a.txt", 0, 1, 0, {"source": f"f{i % 3}.txt"}) for i, t in enumerate(texts(90))]
    with collection.bulk_write(90):
        collection.upsert(chunks[:40], vectors(90)[:40])
        collection.upsert(chunks[40:], vectors(90)[40:])
        assert collection._keyword.stats().chunks == 0  # rows go in without keyword upkeep
        assert collection._keyword.stamp != collection.version()  # ... and the index says it is behind
    assert collection._keyword.stamp == collection.version() and collection.check() == []
    normal = store.open_collection("normal", EmbedderInfo("test", 16))
    normal.upsert(chunks, vectors(90))
    for query in ("glacier storm", "letter letter garden", "north"):
        assert ([(h.id, round(h.score, 5)) for h in collection.keyword_search(query, 20)]
                == [(h.id, round(h.score, 5)) for h in normal.keyword_search(query, 20)])
    with collection.bulk_write(10):  # 10 rows into 90: cheaper kept up as they come
        collection.upsert(chunks[:10], vectors(10, seed=1))
        assert collection._keyword.stamp == collection.version()
    with pytest.raises(RuntimeError), collection.bulk_write(500):  # a big write dying half way
        collection.upsert([Chunk("late", "glacier glacier glacier", "b.txt", 0, 1, 0, {"source": "b.txt"})],
                          vectors(1, seed=2))
        raise RuntimeError("killed")
    assert collection._keyword.stamp != collection.version()  # left behind: the next use rebuilds it
    assert collection.keyword_search("glacier", 1)[0].id == "late"
    assert collection.check() == []


# -- a full disk ---------------------------------------------------------------------------

REOPEN = textwrap.dedent("""
    import sys, numpy as np
    from core.stores import open_store
    from core.types import EmbedderInfo
    from core.errors import ExplorerError
    try:
        collection = open_store(sys.argv[1]).open_collection("lib", EmbedderInfo("test", 384), create=False)
        hits = collection.vector_search(np.ones(384, dtype=np.float32), 3)
        print("ok", collection.count(), len(hits), len(collection.keyword_search("glaciers", 3)), collection.check())
    except ExplorerError as exc:
        print("refused", type(exc).__name__, exc)
""")


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 5 MB tmpfs (tests run as root in CI), unmounted afterwards."""
    import os

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(disk)], check=True)
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)], check=False)  # this process's client may hold files open


def rows(lo: int, n: int) -> tuple[list[Chunk], np.ndarray]:
    return ([Chunk(f"c{i}", f"word{i} glaciers and the cold north sea " * 5, "s", 0, 1, 0, {"source": f"f{i // 10}.txt"})
             for i in range(lo, lo + n)], vectors(n, dim=384, seed=lo))


def fill_disk(disk: Path, leave: int) -> Path:
    import os

    stat = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    return filler


def reopen_elsewhere(folder: Path) -> str:
    done = subprocess.run([sys.executable, "-c", REOPEN, str(folder)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]  # a clear message at worst, never a traceback
    return done.stdout.strip()


def test_a_full_disk_refuses_the_write_and_the_store_reopens_intact(small_disk):
    folder = small_disk / "store"
    collection = open_store(str(folder)).open_collection("lib", EmbedderInfo("test", 384))
    collection.upsert(*rows(0, 500))
    version = collection.version()
    filler = fill_disk(small_disk, leave=2_200_000)  # measured: without the check this write truncates the index
    with pytest.raises(StoreFull, match="Nothing was written"):
        for lo in range(500, 3000, 500):  # an ingest going on in batches
            collection.upsert(*rows(lo, 500))
    assert collection.count() == 500 and collection.version() == version
    assert reopen_elsewhere(folder) == "ok 500 3 3 []"
    filler.unlink()
    collection.upsert(*rows(500, 100))  # with room again, writes go on
    assert reopen_elsewhere(folder) == "ok 600 3 3 []"


def test_a_vector_index_broken_by_a_full_disk_is_named_not_a_traceback(small_disk, monkeypatch):
    """Without the free-space check (as when another program fills the disk during a write), chromadb
    saves a truncated vector index; opening it says what is wrong and what to run."""
    folder = small_disk / "store"
    collection = open_store(str(folder)).open_collection("lib", EmbedderInfo("test", 384))
    collection.upsert(*rows(0, 500))
    monkeypatch.setattr(type(collection), "_ensure_space", lambda self, rows, text_bytes: None)
    filler = fill_disk(small_disk, leave=2_200_000)
    with pytest.raises((StoreFull, StoreDamaged)):
        for lo in range(500, 3000, 500):
            collection.upsert(*rows(lo, 500))
    filler.unlink()
    outcome = reopen_elsewhere(folder)
    assert outcome.startswith("ok") or ("StoreDamaged" in outcome and "python -m core repair" in outcome), outcome
