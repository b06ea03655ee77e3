"""Step 2 of making the old-chromadb fixture: a persistent Chroma folder written by chromadb 0.5.23.

Made with chromadb 0.5.23 (numpy 1.26.4, Python 3.11) in a venv of its own, outside the repository:

    python3 -m venv /work/oldchroma-venv && /work/oldchroma-venv/bin/pip install "chromadb==0.5.23" "numpy<2"
    PYTHONPATH=. /work/main/.venv/bin/python tests/data/old_chroma/rows.py /tmp/old-chroma-rows.json
    /work/oldchroma-venv/bin/python tests/data/old_chroma/make.py /tmp/old-chroma-rows.json tests/data/old_chroma/store.tar.gz

Plain chromadb code only, as another program's RAG pipeline would write it:
- "novels": 120 paragraphs of two public-domain novels (SOURCE.md), their real all-MiniLM-L6-v2 vectors
  (384-d, from rows.py) passed in, chromadb's default embedding function, cosine space set the 0.x way
  (`hnsw:space` metadata), metadata source, category, author, title, chapter, paragraph.
- "wide": the same ids with 768-d vectors drawn from a seeded generator (no model made them), chromadb's
  default l2 space, no embedding function given, metadata of several types, no document on every
  fifth row and no metadata on every seventh; its vector index saved every 100 rows, so the folder holds
  both kinds an old folder has: "novels" only in chromadb's log (under 1,000 rows, never saved), "wide"
  in a saved index (index_metadata.pickle) plus the log.
chromadb 0.5.23 writes schema versions (sysdb 9, metadb 4) older than chromadb 1.x, which migrates a folder
when it opens it. Its vector index files are preallocated for 1,000 rows (5 MB, mostly zeros), so the
folder is committed as a .tar.gz (1.05 MB) that the tests unpack into a temporary folder.
"""
from __future__ import annotations

import json
import sys
import tarfile
import tempfile
from pathlib import Path

import chromadb
import numpy as np
from chromadb.config import Settings
from chromadb.utils.embedding_functions import DefaultEmbeddingFunction

BATCH = 50  # added a batch at a time, as a pipeline would


def build(rows: dict, folder: Path) -> None:
    client = chromadb.PersistentClient(path=str(folder), settings=Settings(anonymized_telemetry=False))
    novels = client.create_collection("novels", embedding_function=DefaultEmbeddingFunction(),
                                      metadata={"hnsw:space": "cosine", "pipeline": "rag-v1"})
    ids, texts, metadatas = rows["ids"], rows["texts"], rows["metadatas"]
    for lo in range(0, len(ids), BATCH):
        novels.add(ids=ids[lo:lo + BATCH], documents=texts[lo:lo + BATCH],
                   embeddings=rows["minilm"][lo:lo + BATCH], metadatas=metadatas[lo:lo + BATCH])

    # Saved vector index every 100 rows (chromadb's default: 1,000), as a folder over 1,000 rows has one.
    wide = client.create_collection("wide", metadata={"hnsw:batch_size": 50, "hnsw:sync_threshold": 100})
    vectors = np.random.default_rng(768).normal(size=(len(ids), 768)).astype(np.float32)
    documents = [None if n % 5 == 0 else text for n, text in enumerate(texts)]
    wide_metadatas = [None if n % 7 == 0 else {"lang": "en", "page": n, "weight": round(0.5 + n / 1000, 3),
                                               "reviewed": n % 2 == 0, "source": m["source"]}
                      for n, m in enumerate(metadatas)]
    for lo in range(0, len(ids), BATCH):
        rows_here = range(lo, min(lo + BATCH, len(ids)))
        # chromadb takes a field for every row of a call or for none: one call per kind of row
        for has_text, has_metadata in ((True, True), (True, False), (False, True), (False, False)):
            kind = [n for n in rows_here
                    if (documents[n] is not None) == has_text and (wide_metadatas[n] is not None) == has_metadata]
            if kind:
                wide.add(ids=[ids[n] for n in kind], embeddings=vectors[kind].tolist(),
                         documents=[documents[n] for n in kind] if has_text else None,
                         metadatas=[wide_metadatas[n] for n in kind] if has_metadata else None)
    print(f"chromadb {chromadb.__version__}: novels {novels.count()}, wide {wide.count()}")


def main(rows_file: Path, archive: Path) -> None:
    rows = json.loads(rows_file.read_text())
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "store"
        build(rows, folder)
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(folder, arcname="store")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
