"""`check` and `repair` (core/health.py) on real stores, and the disk-space refusal on a real small disk."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import chromadb
from chromadb.api.shared_system_client import SharedSystemClient
from chromadb.config import Settings
import numpy as np
import pytest

from conftest import LONG_DOCS, ROOT
from core.config import DEFAULT_CHUNKING
from core.errors import CollectionDamaged, ExplorerError
from core.health import check_collection, check_store, estimate_space, repair_collection
from core.pipeline import ingest
from core.stores import open_store
from core.types import Chunk
from core.workspace import open_workspace
from store_fixtures import backends
from test_cli import cli

# Chroma writes a collection's HNSW files once it holds more rows than its sync threshold (1,000 by
# default); below that the vectors live in its log and a broken index file cannot happen.
PERSISTED_ROWS = 1_100
WINDOW_WORDS = 30


def words_windows(count: int) -> list[Chunk]:
    """`count` distinct 30-word windows of the long documents, as stored chunks."""
    words = (LONG_DOCS / "pg84_frankenstein.txt").read_text(encoding="utf-8").split()
    start = len(words) // 20  # past the Project Gutenberg header
    chunks = []
    for n in range(count):
        text = " ".join(words[start + n * WINDOW_WORDS:start + (n + 1) * WINDOW_WORDS])
        chunks.append(Chunk(id=f"w{n:05d}", text=text, source="frankenstein.txt", start=0, end=len(text), index=n,
                            metadata={"source": "frankenstein.txt", "category": "novel", "index": n}))
    return chunks


@pytest.fixture(scope="module")
def windows(minilm) -> tuple[list[Chunk], np.ndarray]:
    chunks = words_windows(PERSISTED_ROWS)
    return chunks, minilm.embed([c.text for c in chunks])


def filled_store(folder: Path, windows, minilm, name: str = "novel") -> str:
    chunks, vectors = windows
    collection = open_store(str(folder)).open_collection(name, minilm.info)
    collection.upsert(chunks, vectors)
    collection.sync_keyword_index()
    return str(folder)


def break_vector_index(folder: str) -> None:
    """What a full disk did to a store (issue 11): the HNSW index's metadata file left empty."""
    [pickle] = Path(folder).glob("*/index_metadata.pickle")
    pickle.write_bytes(b"")
    SharedSystemClient.clear_system_cache()  # as a new process finds it: this one holds the index in memory


def test_sample_store_is_healthy(sample_store):
    reports = check_store(open_store(sample_store))
    assert [r.collection for r in reports] == ["samples"]
    assert reports[0].healthy, reports[0].problems
    assert reports[0].chunks and reports[0].chunks > 50
    proc = cli("check", "--store", sample_store)
    assert "samples (" in proc.stdout and "healthy" in proc.stdout


@backends("chroma", "pgvector")
def test_a_whole_collection_is_healthy_on_every_store(store, new_name, long_docs_corpus):
    collection = store.open_collection(new_name(store), long_docs_corpus.embedder)
    collection.upsert(long_docs_corpus.chunks, long_docs_corpus.embeddings)
    collection.sync_keyword_index()
    health = check_collection(collection)
    assert health.healthy, health.problems
    assert health.chunks == len(long_docs_corpus.chunks)


def test_a_broken_vector_index_is_found_named_and_repaired(tmp_path, windows, minilm):
    chunks, vectors = windows
    store = filled_store(tmp_path / "store", windows, minilm)
    break_vector_index(store)

    # Opening it in a new process (the app's or the CLI's; this one still holds the loaded index) says
    # what is wrong and how to fix it, in the library and from the shell.
    opened = subprocess.run([sys.executable, "-c", "import sys; from core.workspace import open_workspace; "
                             "open_workspace(sys.argv[1], 'novel')", store], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert "CollectionDamaged" in opened.stderr and "python -m core repair --collection novel" in opened.stderr
    searched = cli("search", "the creature", "--store", store, "--collection", "novel", check=False)
    assert searched.returncode == 1 and "repair" in searched.stderr and "Traceback" not in searched.stderr

    listed = cli("collections", "--store", store, check=False)
    assert listed.returncode == 1 and "python -m core repair" in listed.stderr and "Traceback" not in listed.stderr

    checked = cli("check", "--store", store, check=False)
    assert checked.returncode == 1, checked.stdout
    assert "novel (unreadable): NOT healthy" in checked.stdout and "repair" in checked.stdout

    repaired = cli("repair", "--store", store, "--collection", "novel")
    assert f"vector index rebuilt from {PERSISTED_ROWS} rows" in repaired.stdout and "now healthy" in repaired.stdout
    assert cli("check", "--store", store).stdout.strip() == f"novel ({PERSISTED_ROWS:,} chunks): healthy"

    # Nothing was lost: every text is back with its metadata, and found by its own vector.
    collection = open_store(store).open_collection("novel", minilm.info, create=False)
    stored = collection.get()
    assert dict(zip(stored.ids, stored.texts)) == {c.id: c.text for c in chunks}
    assert {m["source"] for m in stored.metadatas} == {"frankenstein.txt"}
    assert collection.vector_search(vectors[7], 1)[0].id == chunks[7].id
    assert collection.keyword_search(chunks[9].text, 1)[0].id == chunks[9].id
    assert (Path(store) / ".repair-backup").is_dir()  # the broken files are set aside, not deleted


def write_behind_our_back(store: str, name: str, chunks: list[Chunk], vectors: np.ndarray) -> None:
    """Rows added by plain chromadb code: the vectors change, our keyword upkeep never hears of it."""
    settings = Settings(anonymized_telemetry=False, allow_reset=False)  # as our store opens it, or chromadb refuses
    raw = chromadb.PersistentClient(store, settings=settings).get_collection(name)
    raw.add(ids=[c.id for c in chunks], documents=[c.text for c in chunks],
            metadatas=[c.metadata for c in chunks], embeddings=vectors)


def test_a_keyword_index_out_of_step_is_found(tmp_path, windows, minilm):
    chunks, vectors = windows
    folder = tmp_path / "store"
    store = filled_store(folder, (chunks[:100], vectors[:100]), minilm)
    write_behind_our_back(store, "novel", chunks[100:400], vectors[100:400])
    health = check_collection(open_store(store).open_collection("novel", minilm.info, create=False))
    assert health.needs("keyword") and not health.needs("vector"), health.problems
    assert "not found by their own text" in " ".join(p.message for p in health.problems)


@pytest.mark.skipif(not hasattr(__import__("core.stores.chroma", fromlist=["x"]).ChromaCollection,
                                "rebuild_keyword_index"),
                    reason="needs ChromaCollection.rebuild_keyword_index (chroma workstream)")
def test_repair_rebuilds_a_keyword_index_out_of_step(tmp_path, windows, minilm):
    chunks, vectors = windows
    store = filled_store(tmp_path / "store", (chunks[:100], vectors[:100]), minilm)
    write_behind_our_back(store, "novel", chunks[100:400], vectors[100:400])
    report = repair_collection(open_store(store), "novel")
    assert report.after.healthy, report.after.problems
    assert report.vectors_rebuilt == 0  # the vectors were fine: only the keyword index was rebuilt


# -- disk space ----------------------------------------------------------------------------------

def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file())


def test_the_estimate_covers_what_an_ingest_really_writes(tmp_path, minilm):
    """The estimate against a real ingest into a real Chroma folder: never short, not absurdly long."""
    text = (LONG_DOCS / "pg84_frankenstein.txt").read_text(encoding="utf-8")[40_000:100_000]
    source = tmp_path / "part.txt"
    source.write_text(text, encoding="utf-8")
    folder = tmp_path / "store"
    collection = open_store(str(folder)).open_collection("novel", minilm.info)
    before = folder_bytes(folder)
    ingest([source], collection, minilm, DEFAULT_CHUNKING)
    written = folder_bytes(folder) - before
    estimate = estimate_space(source.stat().st_size, DEFAULT_CHUNKING, minilm.info.dimension, free=0)
    assert written <= estimate.bytes_needed <= 4 * written, (written, estimate)
    assert abs(estimate.chunks - collection.count()) <= collection.count()  # the right order of magnitude


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 5 MB tmpfs under tmp_path (root only; CI runs as root), unmounted afterwards."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(disk)], check=True)
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def test_an_ingest_the_disk_cannot_hold_is_refused_before_any_write(small_disk, tmp_path, minilm):
    small = tmp_path / "letter.txt"
    small.write_text((LONG_DOCS / "pg84_frankenstein.txt").read_text(encoding="utf-8")[40_000:45_000])
    store = str(small_disk / "store")
    collection = open_store(store).open_collection("novel", minilm.info)
    ingest([small], collection, minilm, DEFAULT_CHUNKING)
    before = collection.get()
    version = collection.version()

    book = LONG_DOCS / "pg1342_pride_and_prejudice.txt"  # 0.75 MB of text: tens of MB in a store
    with pytest.raises(ExplorerError, match="not enough disk space.*nothing was written"):
        ingest([book], collection, minilm, DEFAULT_CHUNKING)
    assert collection.version() == version
    assert collection.get().ids == before.ids
    assert collection.keyword_search("Bingley Darcy", 3) == []

    refused = cli("ingest", str(book), "--store", store, "--collection", "novel", check=False)
    assert refused.returncode == 1 and "not enough disk space" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert cli("check", "--store", store).stdout.strip().endswith("healthy")



# -- issue 20: repair safe to interrupt, repair without a query model, a check you can believe ------------------


def dead_pid() -> int:
    """The id of a process that has ended (a repair killed half way)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def mark_as_killed(collection, what: str, original: str) -> None:
    from core.stores.base import Pending

    collection.set_pending(Pending(what, original, dead_pid(), __import__("socket").gethostname()))


@backends("chroma", "pgvector")
def test_a_repair_killed_during_its_swap_is_finished_by_the_next_command(store_url, new_name, windows, minilm):
    """Issue 20: killed between deleting the original and putting the rebuilt copy in its place, the
    next command (any: here `collections`) finishes the swap; nothing is lost, no `-repair` is left."""
    chunks, vectors = windows[0][:40], windows[1][:40]
    store = open_store(store_url)
    name = new_name(store)
    spare_name = f"{name}-repair"
    spare = store.open_collection(spare_name, minilm.info)
    spare.upsert(chunks, vectors)
    mark_as_killed(spare, "repair-ready", name)  # whole, and its original already deleted

    assert cli("collections", "--store", store_url).returncode == 0
    names = {info.name for info in open_store(store_url).list_collections()}
    assert name in names and spare_name not in names
    collection = open_store(store_url).open_collection(name, minilm.info, create=False)
    assert sorted(collection.get().ids) == sorted(c.id for c in chunks)
    assert collection.keyword_search(chunks[3].text, 1)[0].id == chunks[3].id
    assert check_collection(collection).healthy


@backends("chroma", "pgvector")
def test_a_repair_killed_while_building_leaves_the_original_untouched(store_url, new_name, windows, minilm):
    chunks, vectors = windows[0][:40], windows[1][:40]
    store = open_store(store_url)
    name = new_name(store)
    original = store.open_collection(name, minilm.info)
    original.upsert(chunks, vectors)
    spare = store.open_collection(f"{name}-repair", minilm.info)
    spare.upsert(chunks[:10], vectors[:10])  # a fill the kill stopped at a quarter
    mark_as_killed(spare, "repair-build", name)

    checked = cli("check", "--store", store_url, "--collection", name)
    assert checked.returncode == 0, checked.stdout
    names = {info.name for info in open_store(store_url).list_collections()}
    assert f"{name}-repair" not in names
    assert open_store(store_url).open_collection(name, minilm.info, create=False).count() == 40


def test_rows_lost_behind_the_collections_back_are_damage_not_health(tmp_path, windows, minilm):
    """Issue 20: the truncated collection a killed repair left was called healthy. The rows of every
    complete write are recorded with it; fewer rows than that is reported."""
    chunks, vectors = windows[0][:50], windows[1][:50]
    store = filled_store(tmp_path / "store", (chunks, vectors), minilm)
    raw = chromadb.PersistentClient(store, settings=Settings(anonymized_telemetry=False, allow_reset=False))
    raw.get_collection("novel").delete(ids=[c.id for c in chunks[:20]])
    checked = cli("check", "--store", store, check=False)
    assert checked.returncode == 1
    assert "holds 30 rows, but its last completed write left 50" in checked.stdout
    repaired = cli("repair", "--store", store, "--collection", "novel")
    assert "30 rows kept where 50 were expected" in repaired.stdout  # said, not silently accepted


def garble(path: Path) -> None:
    """Garbage over a keyword index file, as a bad disk or a stray write leaves it."""
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.write_bytes(os.urandom(8192))


def test_a_garbled_keyword_index_is_named_moved_aside_and_rebuilt(tmp_path, windows, minilm):
    """Issue 20: garbage in the keyword SQLite file made search blame the vector index and repair die
    with `database disk image is malformed`, leaving `<name>-repair` behind."""
    chunks, vectors = windows[0][:60], windows[1][:60]
    store = filled_store(tmp_path / "store", (chunks, vectors), minilm)
    keyword_file = Path(store) / "keyword" / "novel.sqlite3"
    garble(keyword_file)
    searched = cli("search", "the creature", "--store", store, "--collection", "novel", "--mode", "keyword",
                   check=False)
    assert searched.returncode == 1 and "Traceback" not in searched.stderr
    assert "keyword index" in searched.stderr and "vector index" not in searched.stderr, searched.stderr

    checked = cli("check", "--store", store, check=False)
    assert checked.returncode == 1 and "keyword index" in checked.stdout

    repaired = cli("repair", "--store", store, "--collection", "novel")
    assert "now healthy" in repaired.stdout, repaired.stdout
    assert list(keyword_file.parent.glob("novel.sqlite3.damaged-*"))  # kept aside, not deleted
    assert not [c for c in open_store(store).list_collections() if c.name.endswith("-repair")]
    collection = open_store(store).open_collection("novel", minilm.info, create=False)
    assert collection.keyword_search(chunks[5].text, 1)[0].id == chunks[5].id


def imported_collection(folder: Path, vectors: np.ndarray, texts: list[str]) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from core.vectorfiles import Fields, import_vectors

    path = folder / "made-elsewhere.parquet"
    dimension = vectors.shape[1]
    pq.write_table(pa.table({"id": [f"r{n}" for n in range(len(texts))], "text": texts,
                             "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dimension)}),
                   path)
    store = str(folder / "store")
    import_vectors(path, open_store(store), "outside", Fields(id="id", text="text"), model="x")
    return store


def test_an_imported_collection_is_repaired_without_its_model(tmp_path, windows):
    """Issue 20: `repair` of an imported collection died with `unknown embedder 'imported:x'`, even when
    only its keyword index was damaged. Now the keyword index is rebuilt from the stored text and the
    vectors from the stored vectors."""
    chunks = windows[0][:30]
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(30, 24)).astype(np.float32)
    store = imported_collection(tmp_path, vectors, [c.text for c in chunks])
    garble(Path(store) / "keyword" / "outside.sqlite3")
    repaired = cli("repair", "--store", store, "--collection", "outside")
    assert "now healthy" in repaired.stdout and "unknown embedder" not in repaired.stdout

    # The vector side too: rebuilt beside and swapped in from the stored vectors, no model asked for.
    from core.health import _rebuild_vectors
    from core.types import EmbedderInfo, no_progress

    written, re_embedded = _rebuild_vectors(open_store(store), "outside", EmbedderInfo("imported:x", 24), no_progress)
    assert (written, re_embedded) == (30, 0)
    collection = open_store(store).open_collection("outside", EmbedderInfo("imported:x", 24), create=False)
    assert collection.vector_search(vectors[4], 1)[0].id == "r4"
    assert [c.name for c in open_store(store).list_collections()] == ["outside"]
    assert check_collection(collection).healthy


@backends("chroma", "pgvector")
def test_identical_chunks_are_no_false_alarm(store_url, new_name, windows, minilm):
    """Issue 20: four identical chunks gave "vector index does not find 1 of N", flipping run to run."""
    chunks, vectors = windows[0][:30], windows[1][:30]
    same = [Chunk(id=f"copy{n}", text=chunks[0].text, source=f"copy{n}.txt", start=0, end=len(chunks[0].text),
                  index=0, metadata={"source": f"copy{n}.txt", "index": 0}) for n in range(4)]
    store = open_store(store_url)
    name = new_name(store)
    collection = store.open_collection(name, minilm.info)
    collection.upsert(list(chunks) + same, np.vstack([vectors, np.repeat(vectors[:1], 4, axis=0)]))
    collection.sync_keyword_index()
    for _ in range(3):
        health = check_collection(collection)
        assert health.healthy, health.problems


def test_a_store_folder_without_its_catalog_is_damage(tmp_path, windows, minilm):
    """Issue 20: after `rm chroma.sqlite3` check said "no collections to check" and exited 0."""
    store = filled_store(tmp_path / "store", (windows[0][:20], windows[1][:20]), minilm)
    (Path(store) / "chroma.sqlite3").unlink()
    checked = cli("check", "--store", store, check=False)
    assert checked.returncode == 1 and "no collections" not in checked.stdout
    assert "lost its catalog (chroma.sqlite3)" in checked.stderr and "Traceback" not in checked.stderr
    ingested = cli("collections", "--store", store, check=False)
    assert ingested.returncode == 1  # and nothing makes a fresh empty catalog beside the data
    assert not (Path(store) / "chroma.sqlite3").exists()


def test_an_interrupted_import_stays_incomplete_through_another_ingest(tmp_path, windows, minilm):
    """Another command writing to the collection does not clear the mark a killed import left."""
    from core.stores.base import operation

    store = filled_store(tmp_path / "store", (windows[0][:10], windows[1][:10]), minilm)
    collection = open_store(store).open_collection("novel", minilm.info, create=False)
    mark_as_killed(collection, "import", "big.parquet")
    with operation(collection, "ingest", "notes/"):
        collection.upsert(windows[0][10:12], windows[1][10:12])
    assert collection.pending().describe() == "an import of big.parquet"
    assert "incomplete: an import of big.parquet was interrupted" in str(check_collection(collection).problems)
