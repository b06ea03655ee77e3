"""An ingest killed with SIGKILL half way leaves a usable collection that the next run completes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np

from conftest import LONG_DOCS, ROOT
from core.chunking import chunk_documents
from core.config import DEFAULT_CHUNKING
from core.loaders import load_path
from core.pipeline import ingest
from core.stores import open_store

BOOK = LONG_DOCS / "pg84_frankenstein.txt"

# A real ingest in its own process that says when each batch is stored, so the
# test can kill it at a known point rather than after a guessed delay.
WORKER = textwrap.dedent("""
    import sys
    from core.config import DEFAULT_CHUNKING
    from core.embedders import get_embedder
    from core.pipeline import ingest
    from core.stores import open_store

    embedder = get_embedder("minilm")
    collection = open_store(sys.argv[1]).open_collection("library", embedder.info)
    def say(event):
        if event.stage == "embedding":
            print("stored", event.done, flush=True)
    ingest([sys.argv[2]], collection, embedder, DEFAULT_CHUNKING, progress=say, batch_size=32)
    print("finished", flush=True)
""")


def test_sigkill_mid_ingest_then_resume(tmp_path, minilm):
    store = str(tmp_path / "store")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, store, str(BOOK)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    batches = 0
    for line in worker.stdout:
        if line.startswith("stored"):
            batches += 1
            if batches == 3:
                worker.send_signal(signal.SIGKILL)
                break
    worker.wait(timeout=60)
    assert worker.returncode == -signal.SIGKILL, worker.stderr.read()

    expected = list(chunk_documents(load_path(BOOK), DEFAULT_CHUNKING, count_tokens=minilm.count_tokens))
    text = BOOK.read_text(encoding="utf-8")

    collection = open_store(store).open_collection("library", minilm.info)
    survived = collection.get(include_embeddings=True)
    assert 0 < len(survived.ids) < len(expected)
    for chunk_text, meta, vector in zip(survived.texts, survived.metadatas, survived.embeddings):
        assert text[meta["start"]:meta["end"]] == chunk_text  # whole chunks only
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3

    report = ingest([BOOK], collection, minilm, DEFAULT_CHUNKING)
    assert report.chunks_skipped == len(survived.ids)
    assert report.chunks_added == len(expected) - len(survived.ids)
    final = collection.get()
    assert sorted(final.ids) == sorted(c.id for c in expected)
    assert collection.keyword_search("Clerval", 1)
