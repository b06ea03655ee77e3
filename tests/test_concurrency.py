"""Several threads, then several processes, writing to and reading from one Chroma folder at once.

Threads: the app's way. One store object cached for the process (Streamlit's
cache_resource) is shared by every session's thread; reads run side by side, writes
take turns on the collection's keyword index transaction, and nothing is lost.

Processes: Chroma's embedded client is not process-safe on its own: a process that
outlives another's writes queries a stale vector index (misses the new rows, or
fails with "Error finding id"). core/stores/chroma.py notices the version another
process wrote and opens its client afresh. Four real ingests run here side by side,
each searching between its writes, then check they all see everything.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from conftest import LONG_DOCS, ROOT
from core.pipeline import Upload, ingest
from core.search import search
from core.stores import open_store
from core.types import ChunkSettings, Filter

WORKERS = 4
PARTS = 3           # writes per worker, each followed by a hybrid search
PART_CHARS = 2_600  # of real text per write
BOOK = LONG_DOCS / "pg1342_pride_and_prejudice.txt"


def marker(worker: int, part: int) -> str:
    """A word found in exactly one file, to check keyword search sees every write."""
    return f"zqmarker{worker}x{part}"


# One worker: its own excerpt in PARTS files, a search after each; then, once every
# worker has written (the test says "go TOTAL"), what its long-lived client sees.
WORKER = textwrap.dedent("""
    import json, sys
    from core.embedders import get_embedder
    from core.pipeline import Upload, ingest
    from core.search import search
    from core.stores import open_store
    from core.types import ChunkSettings

    store, worker, parts = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    embedder = get_embedder("minilm")
    collection = open_store(store).open_collection("library", embedder.info)
    added = 0
    for name, text in parts:
        report = ingest([Upload(name, text.encode())], collection, embedder, ChunkSettings(size=60))
        assert not report.failures, report.failures
        added += report.chunks_added
        search(collection, embedder, "Elizabeth and her sister", mode="hybrid", k=3)
    print(json.dumps({"added": added}), flush=True)
    total = int(sys.stdin.readline().split()[1])
    everything = collection.get(include_embeddings=True)
    misses = sum(collection.vector_search(v, 1)[0].id != i for i, v in zip(everything.ids, everything.embeddings))
    markers = sys.argv[4].split()
    found = [m for m in markers if collection.keyword_search(m, 1)]
    print(json.dumps({"count": collection.count(), "rows": len(everything.ids), "unique": len(set(everything.ids)),
                      "vector_misses": misses, "markers_found": len(found), "total": total}), flush=True)
""")


def worker_parts(worker: int) -> list[tuple[str, str]]:
    text = BOOK.read_text(encoding="utf-8")
    start = 20_000 + worker * PARTS * PART_CHARS  # distinct, real excerpts
    return [(f"excerpt-{worker}-{part}.txt",
             f"{marker(worker, part)}. " + text[start + part * PART_CHARS:start + (part + 1) * PART_CHARS])
            for part in range(PARTS)]


@pytest.mark.slow
def test_four_processes_ingest_and_search_one_folder(tmp_path, minilm):
    store = str(tmp_path / "store")
    markers = " ".join(marker(w, p) for w in range(WORKERS) for p in range(PARTS))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, store, str(w), json.dumps(worker_parts(w)), markers],
                                cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for w in range(WORKERS)]
    try:
        first = [worker.stdout.readline() for worker in workers]
        assert all(first), "a worker died: " + " | ".join(w.stderr.read()[-2000:] for w in workers if w.poll())
        added = [json.loads(line)["added"] for line in first]
        total = sum(added)
        for worker in workers:
            worker.stdin.write(f"go {total}\n")
            worker.stdin.flush()
        seen = [json.loads(worker.stdout.readline() or "{}") for worker in workers]
        for worker in workers:
            assert worker.wait(timeout=120) == 0, worker.stderr.read()[-2000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()

    # Every live client sees every write: no stale segments, no missing keyword rows.
    for view in seen:
        assert view == {"count": total, "rows": total, "unique": total, "vector_misses": 0,
                        "markers_found": WORKERS * PARTS, "total": total}
    # And so does a fresh process: no lost writes, no duplicates.
    collection = open_store(store).open_collection("library", minilm.info, create=False)
    stored = collection.get()
    assert collection.count() == total == len(set(stored.ids)) > WORKERS * PARTS * 5
    sources = {s.source: s.chunks for s in collection.sources()}
    assert sorted(sources) == sorted(name for w in range(WORKERS) for name, _ in worker_parts(w))
    for w in range(WORKERS):
        mine = sum(n for name, n in sources.items() if name.startswith(f"excerpt-{w}-"))
        assert mine == added[w]
        for p in range(PARTS):
            [hit] = collection.keyword_search(marker(w, p), 1)
            assert hit.metadata["source"] == f"excerpt-{w}-{p}.txt"
            assert collection.keyword_search(marker(w, p), 1, Filter(sources=(f"excerpt-{(w + 1) % WORKERS}-{p}.txt",))) == []


THREADS = 8  # half write, half read, all through one shared store object


def test_eight_threads_share_one_store_reading_and_writing(tmp_path, minilm):
    store = open_store(str(tmp_path / "store"))  # the one object every session of the app shares
    collection = store.open_collection("library", minilm.info)
    ingest([Upload("seed.txt", BOOK.read_text(encoding="utf-8")[5_000:9_000].encode())],
           collection, minilm, ChunkSettings(size=60))
    writers = THREADS // 2
    errors: list[BaseException] = []
    added = [0] * writers
    done = threading.Event()
    searches = [0] * (THREADS - writers)

    def writer(w: int) -> None:
        try:
            mine = store.open_collection("library", minilm.info, create=False)  # a session's own rerun
            for name, text in worker_parts(w):
                report = ingest([Upload(name, text.encode())], mine, minilm, ChunkSettings(size=60))
                assert not report.failures, report.failures
                added[w] += report.chunks_added
                part = int(name.rsplit("-", 1)[1].split(".")[0])
                [hit] = mine.keyword_search(marker(w, part), 1)  # a writer sees its own write at once
                assert hit.metadata["source"] == name
            mine.delete_ids([])  # a no-op write
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    def reader(r: int) -> None:
        try:
            mine = store.open_collection("library", minilm.info, create=False)
            while not done.is_set():
                results = search(mine, minilm, "Elizabeth and her sister", mode="hybrid", k=5)
                assert results and all(res.text for res in results)
                assert mine.count() >= 1
                assert all(s.chunks > 0 for s in mine.sources())
                mine.keyword_search(marker(r % writers, 0), 3, Filter(sources=(f"excerpt-{r % writers}-0.txt",)))
                searches[r] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    readers = [threading.Thread(target=reader, args=(r,)) for r in range(THREADS - writers)]
    for t in threads + readers:
        t.start()
    for t in threads:
        t.join(timeout=600)
    done.set()
    for t in readers:
        t.join(timeout=120)
    assert errors == []
    assert all(searches)  # every reader ran while the writers wrote

    seed = len([s for s in collection.sources() if s.source == "seed.txt"])
    stored = collection.get(include_embeddings=True)
    seed_chunks = sum(s.chunks for s in collection.sources() if s.source == "seed.txt")
    assert seed == 1 and len(stored.ids) == len(set(stored.ids)) == collection.count() == seed_chunks + sum(added)
    for w in range(writers):
        for p in range(PARTS):
            [hit] = collection.keyword_search(marker(w, p), 1)
            assert hit.metadata["source"] == f"excerpt-{w}-{p}.txt"
    assert all(collection.vector_search(v, 1)[0].id == i for i, v in zip(stored.ids, stored.embeddings))
    assert collection.check() == []
