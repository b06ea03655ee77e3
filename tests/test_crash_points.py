"""Kill ingest, import, repair and copy at every write step, then check the invariant after the next command.

`EXPLORER_CRASH_AT=N` (core/stores/crash.py) ends the process at its Nth write step as `kill -9`
would. Each operation runs in a process of its own with N = 1, 2, ... until a run gets through all its
steps (so every step is a crash point, however many the store takes). After each kill:
- `check` never calls a collection healthy that is not whole (a killed import or ingest is
  "incomplete"; a killed repair is settled by the next opening of the store);
- the next command (the same one again; for repair, any command) leaves every document there
  once, found by its exact text through vector and keyword search, `check` healthy, and nothing
  named `-repair`.

The corpora are a few rows and the embedder is `bow-hash` (hashed words: no model to load), so
each killed run is a fork of one process that imported everything once (see `Forker`).
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from conftest import ROOT
from core.cli import main as cli_main
from core.embedders import get_embedder
from core.health import check_collection, check_store, open_existing
from core.stores import open_store
from core.stores.base import settle_interrupted
from store_fixtures import backends

WORDS = ("amber basalt cobalt dune ember fjord garnet harbor indigo jasper kelp lagoon marble nectar "
         "onyx pumice quartz reef sierra tundra umber violet willow xenon yarrow zephyr").split()
MAX_STEPS = 40  # far more than any of these operations takes: a run that never completes is a bug


def texts(count: int, seed: int) -> list[str]:
    """Distinct sentences of distinct words: each finds itself by vector (bow-hash) and by keyword."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=6, replace=False)) + f" item{seed}x{n}." for n in range(count)]


# A process that has imported everything once and forks one child per run: the child is a process of
# its own, ended by os._exit like any other, without paying Python's and chromadb's start-up each time
# (3 s of CPU per run as `python -m core`, 0.3-0.5 s as a fork). It opens no store and starts no thread
# before forking, so each child starts as clean as a fresh interpreter that imported these modules.
FORKER = """
import json, os, sys, traceback
import core.cli, core.health, core.pipeline, core.stores.chroma, core.stores.pgvector, core.stores.transfer
import core.vectorfiles
for line in sys.stdin:
    argv, code, crash_at, log = json.loads(line)
    pid = os.fork()
    if pid == 0:
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.environ["EXPLORER_CRASH_AT"] = str(crash_at)
        try:
            if code is None:
                status = core.cli.main(argv) or 0
            else:
                sys.argv = ["-c", *argv]
                exec(code, {"__name__": "__main__"})
                status = 0
        except BaseException:
            traceback.print_exc()
            status = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


class Forker:
    def __init__(self, logs: Path):
        self.logs = logs
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        env.pop("EXPLORER_CRASH_AT", None)
        self.process = subprocess.Popen([sys.executable, "-c", FORKER], cwd=ROOT, env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.runs = 0

    def run(self, args: list[str], crash_at: int) -> int:
        """`python -m core ARGS`, or `python -c CODE ARGS...` when args[0] == "-c", ending at write step `crash_at`."""
        self.runs += 1
        log = self.logs / f"run-{self.runs}.log"
        code, argv = (args[1], args[2:]) if args[0] == "-c" else (None, args)
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps([argv, code, crash_at, str(log)]) + "\n")
        self.process.stdin.flush()
        status = int(self.process.stdout.readline())
        assert status in (0, 137), log.read_text()[-2000:]
        return status

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def forker(tmp_path_factory):
    started = Forker(tmp_path_factory.mktemp("runs"))
    yield started
    started.close()


@dataclass
class Whole:
    """What the collection must hold: id -> text, and how to find a row by vector."""

    store_url: str
    name: str
    rows: dict[str, str]
    vector_of: Callable[[str, str], np.ndarray]  # (id, text) -> a query vector that must find it

    def assert_holds(self) -> None:
        store = opened(self.store_url)
        settle_interrupted(store)  # what opening the store does first in the next command
        names = [info.name for info in store.list_collections()]
        assert not [n for n in names if n.endswith("-repair")], names
        if "://" not in self.store_url:
            assert not list((Path(self.store_url) / "keyword").glob("*-repair*"))
        collection = open_existing(store, self.name)
        stored = collection.get()
        assert len(stored.ids) == len(set(stored.ids)) == collection.count()
        assert dict(zip(stored.ids, stored.texts)) == self.rows
        for chunk_id, text in self.rows.items():
            by_vector = collection.vector_search(self.vector_of(chunk_id, text), len(self.rows))
            assert text in [h.text for h in by_vector], (chunk_id, "vector")
            assert text in [h.text for h in collection.keyword_search(text, len(self.rows))], (chunk_id, "keyword")
        health = check_collection(collection)
        assert health.healthy, health.problems

    def assert_check_is_honest(self) -> None:
        """Right after a kill: healthy only if whole; otherwise the check says what is wrong."""
        store = opened(self.store_url)
        if self.name not in {info.name for info in store.list_collections()}:
            return  # killed before the collection was made: nothing to call healthy
        health = check_collection(open_existing(store, self.name))
        if health.healthy:
            self.assert_holds()


def crash_everywhere(forker: Forker, args: list[str], whole: Whole, prepare: Callable[[], None],
                     rerun: Callable[[], None]) -> int:
    """Kill at step 1, 2, ... on a fresh copy of the starting state until a run completes; returns the steps."""
    for step in range(1, MAX_STEPS):
        gc.collect()  # stores the in-process commands opened give back their connections
        prepare()
        if forker.run(args, step) == 0:
            whole.assert_holds()
            return step - 1
        whole.assert_check_is_honest()
        rerun()
        whole.assert_holds()
    raise AssertionError(f"{args} still had write steps after {MAX_STEPS}")


_STORES: dict[str, object] = {}


def opened(url: str):
    """One store per URL in this process: each pgvector store holds a pool of connections, and the shared
    server has room for only so many."""
    if url not in _STORES:
        _STORES[url] = open_store(url)
    return _STORES[url]


def fresh_url(base: str, tmp_path: Path) -> str:
    return str(tmp_path / f"chroma-{uuid.uuid4().hex[:8]}") if "://" not in base else base


def drop(url: str, *names: str) -> None:
    store = opened(url)
    present = {info.name for info in store.list_collections()}
    for name in names:
        for candidate in (name, f"{name}-repair"):
            if candidate in present:
                store.delete_collection(candidate)


@pytest.fixture
def bow():
    return get_embedder("bow-hash")


def embedded(bow) -> Callable[[str, str], np.ndarray]:
    return lambda _id, text: bow.embed([text])[0]


@backends("chroma", "pgvector")
def test_ingest_killed_at_every_write_step_is_completed_by_running_it_again(store_url, tmp_path, bow, forker):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "doc.txt").write_text("\n\n".join(texts(2, seed=1)))  # two chunks of six words and a tag
    name = f"crash-{uuid.uuid4().hex[:8]}"
    options = ["--collection", name, "--embedder", "bow-hash", "--chunker", "paragraph", "--size", "8",
               "--unit", "words", "--overlap", "0"]
    reference = str(tmp_path / "reference")
    assert cli_main(["ingest", str(folder), "--store", reference, *options]) == 0
    ref = open_existing(open_store(reference), name).get()
    assert len(ref.ids) == 2
    whole = Whole("", name, dict(zip(ref.ids, ref.texts)), embedded(bow))
    argv: list[str] = []

    def prepare() -> None:
        whole.store_url = fresh_url(store_url, tmp_path)
        drop(whole.store_url, name)
        argv[:] = ["ingest", str(folder), "--store", whole.store_url, *options]

    def rerun() -> None:
        assert cli_main(argv) == 0

    prepare()
    assert crash_everywhere(forker, argv, whole, prepare, rerun) >= 4  # the mark, the rows, the stale sweep, the mark cleared
    drop(whole.store_url, name)


IMPORT = """
import sys
from core.stores import open_store
from core.stores.base import settle_interrupted
from core.vectorfiles import Fields, import_vectors
import_vectors(sys.argv[1], open_store(sys.argv[2]), sys.argv[3], Fields(id="id", text="text"), batch_rows=5)
"""


@backends("chroma", "pgvector")
def test_import_killed_at_every_write_step_is_completed_by_running_it_again(store_url, tmp_path, forker):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = texts(10, seed=2)
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(len(rows), 16)).astype(np.float32)
    ids = [f"row-{n}" for n in range(len(rows))]
    path = tmp_path / "vectors.parquet"
    pq.write_table(pa.table({"id": ids, "text": rows,
                             "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 16)}), path)
    name = f"crash-{uuid.uuid4().hex[:8]}"
    by_id = dict(zip(ids, vectors))
    whole = Whole("", name, dict(zip(ids, rows)), lambda i, _t: by_id[i])
    argv: list[str] = []

    def prepare() -> None:
        whole.store_url = fresh_url(store_url, tmp_path)
        drop(whole.store_url, name)
        argv[:] = ["-c", IMPORT, str(path), whole.store_url, name]

    def rerun() -> None:
        from core.vectorfiles import Fields, import_vectors
        import_vectors(path, opened(whole.store_url), name, Fields(id="id", text="text"), batch_rows=5)

    prepare()
    steps = crash_everywhere(forker, argv, whole, prepare, rerun)
    assert steps >= 4  # the mark, two batches, the mark cleared
    drop(whole.store_url, name)


def _break_one_vector(url: str, name: str, row_id: str) -> None:
    """Damage the vector index's view of one row (a zero vector), so `repair` must rebuild the vectors."""
    store = opened(url)
    if "://" not in url:
        store.raw_collection(name).update(ids=[row_id], embeddings=[[0.0] * 384])
        return
    import psycopg

    table = next(t for n, t in _registry(url) if n == name)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f'UPDATE "{table}" SET embedding = array_fill(0, ARRAY[384])::vector WHERE id = %s', [row_id])


def _registry(url: str) -> list[tuple[str, str]]:
    import psycopg

    with psycopg.connect(url) as db:
        return db.execute("SELECT name, table_name FROM explorer_collections").fetchall()


COPY = """
import sys
from core.stores import open_store
from core.stores.base import settle_interrupted
from core.stores.transfer import copy_collection
store = open_store(sys.argv[1])
copy_collection(store, store, sys.argv[2], sys.argv[3], page_size=3)
"""


@backends("chroma", "pgvector")
def test_repair_and_copy_killed_at_every_write_step_leave_one_whole_collection(store_url, tmp_path, bow, forker):
    folder = tmp_path / "docs"
    folder.mkdir()
    for n, text in enumerate(texts(6, seed=3)):
        (folder / f"doc{n}.txt").write_text(text)
    name, copy_name = f"crash-{uuid.uuid4().hex[:8]}", f"copy-{uuid.uuid4().hex[:8]}"
    template = str(tmp_path / "template")
    assert cli_main(["ingest", str(folder), "--store", template, "--collection", name, "--embedder", "bow-hash"]) == 0
    ref = open_existing(open_store(template), name).get()
    rows = dict(zip(ref.ids, ref.texts))
    whole = Whole("", name, rows, embedded(bow))
    argv: list[str] = []

    def fill(url: str) -> None:
        """The starting state: the collection, with one vector broken."""
        drop(url, name, copy_name)
        assert cli_main(["copy", "--from", template, "--collection", name, "--to", url]) == 0
        _break_one_vector(url, name, sorted(rows)[2])
        assert not check_collection(open_existing(opened(url), name)).healthy

    def prepare_repair() -> None:
        whole.store_url = fresh_url(store_url, tmp_path)
        fill(whole.store_url)
        argv[:] = ["repair", "--store", whole.store_url, "--collection", name]

    def after_repair_kill() -> None:
        # any command settles the swap; repair again mends what the killed one had not reached yet
        assert cli_main(["collections", "--store", whole.store_url]) == 0
        assert not [h for h in check_store(opened(whole.store_url)) if h.collection.endswith("-repair")]
        assert cli_main(["repair", "--store", whole.store_url, "--collection", name]) == 0

    prepare_repair()
    assert crash_everywhere(forker, argv, whole, prepare_repair, after_repair_kill) >= 4  # build, fill, ready, swap

    copy_whole = Whole(whole.store_url, copy_name, rows, embedded(bow))

    def prepare_copy() -> None:
        drop(copy_whole.store_url, copy_name)
        argv[:] = ["-c", COPY, copy_whole.store_url, name, copy_name]

    def rerun_copy() -> None:
        from core.stores.transfer import copy_collection
        store = opened(copy_whole.store_url)
        copy_collection(store, store, name, copy_name, page_size=3)

    prepare_copy()
    assert crash_everywhere(forker, argv, copy_whole, prepare_copy, rerun_copy) >= 4
    drop(copy_whole.store_url, name, copy_name)
