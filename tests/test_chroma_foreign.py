"""A Chroma folder made by plain chromadb code in another process, opened here read-only."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core.errors import EmbedderUnavailable, ReadOnlyCollection
from core.projection import ProjectionSettings, load_points, project
from core.search import search
from core.stores import open_store
from core.workspace import open_workspace
from test_cli import cli

MAKE_FOLDER = textwrap.dedent("""
    import json, sys
    import chromadb
    from chromadb.utils.embedding_functions import DefaultEmbeddingFunction

    folder, rows_file = sys.argv[1], sys.argv[2]
    rows = json.load(open(rows_file))
    client = chromadb.PersistentClient(path=folder)
    # Chroma's default-style config: the default embedding function, cosine space, vectors given.
    docs = client.create_collection("docs", embedding_function=DefaultEmbeddingFunction(),
                                    configuration={"hnsw": {"space": "cosine"}}, metadata={"team": "search"})
    docs.add(ids=rows["ids"], documents=rows["texts"], embeddings=rows["minilm"], metadatas=rows["metadatas"])
    # 768 dimensions from a model this app does not have, no documents for some rows.
    wide = client.create_collection("wide", configuration={"hnsw": {"space": "cosine"}})
    wide.add(ids=rows["ids"], documents=rows["texts"], embeddings=rows["wide"], metadatas=rows["metadatas"])
""")


def folder_files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def plain_read(folder: Path) -> str:
    """What plain chromadb reads back from the folder (in a process of its own), as JSON."""
    script = textwrap.dedent("""
        import json, sys
        import chromadb
        client = chromadb.PersistentClient(path=sys.argv[1])
        out = {}
        for c in sorted(client.list_collections(), key=lambda c: c.name):
            got = c.get(include=["documents", "metadatas", "embeddings"])
            out[c.name] = {"metadata": c.metadata, "ids": got["ids"], "documents": got["documents"],
                           "metadatas": got["metadatas"], "embeddings": [list(map(float, e)) for e in got["embeddings"]]}
        print(json.dumps(out, sort_keys=True))
    """)
    return subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True,
                          check=True, timeout=300).stdout


@pytest.fixture
def foreign_folder(tmp_path, long_docs_corpus) -> Path:
    """Two collections made by plain chromadb code in a process of its own, as another program would."""
    folder, rows = tmp_path / "their-rag", tmp_path / "rows.json"
    wide = np.concatenate([long_docs_corpus.embeddings, long_docs_corpus.embeddings[::-1]], axis=1)
    rows.write_text(json.dumps({"ids": [c.id for c in long_docs_corpus.chunks],
                                "texts": [c.text for c in long_docs_corpus.chunks],
                                "metadatas": [{"category": c.metadata["category"], "book": c.source}
                                              for c in long_docs_corpus.chunks],
                                "minilm": long_docs_corpus.embeddings.tolist(), "wide": wide.tolist()}))
    subprocess.run([sys.executable, "-c", MAKE_FOLDER, str(folder), str(rows)], check=True, timeout=300)
    return folder


def test_foreign_folder_opens_maps_searches_and_stays_exactly_as_it_was(foreign_folder, tmp_path, monkeypatch):
    folder = foreign_folder
    monkeypatch.setattr("core.config.DATA_DIR", tmp_path / "data")
    before_files = folder_files(folder)
    # Plain chromadb reads a twin, so that its own writes on open cannot touch the folder under test.
    twin = tmp_path / "twin"
    shutil.copytree(folder, twin)
    before = plain_read(twin)

    store = open_store(str(folder))
    assert "made by another program" in store.notice and "never written to" in store.notice
    assert {c.name: c.embedder.name for c in store.list_collections()} == {"docs": "minilm",
                                                                          "wide": "imported:default"}
    docs = open_workspace(store, "docs")  # the saved default function is MiniLM, and it reproduces the vectors
    top = search(docs.collection, docs.embedder, "the creature made by Victor", mode="hybrid", k=3)
    assert top and top[0].metadata["book"] == "pg84_frankenstein.txt"
    wide = open_workspace(store, "wide")
    assert wide.collection.embedder.dimension == 768
    points = load_points(wide.collection)
    assert project(points.chunks.embeddings, ProjectionSettings(method="pca")).coords.shape == (len(points.chunks.ids), 2)
    assert search(wide.collection, wide.embedder, "Elizabeth", mode="keyword", k=3)
    first = wide.collection.get(limit=1, include_embeddings=True)
    assert wide.collection.vector_search(first.embeddings[0], 3)[0].id == first.ids[0]  # neighbours of a chunk
    with pytest.raises(EmbedderUnavailable, match="cannot run"):
        search(wide.collection, wide.embedder, "Elizabeth", mode="vector", k=3)
    with pytest.raises(ReadOnlyCollection):
        docs.collection.delete_ids([first.ids[0]])
    with pytest.raises(ReadOnlyCollection):
        store.delete_collection("docs")

    assert folder_files(folder) == before_files  # not one byte changed, no file of ours added
    assert plain_read(folder) == before


def test_cli_lists_a_foreign_folder_without_touching_it(foreign_folder, tmp_path):
    folder = foreign_folder
    note = tmp_path / "note.txt"
    note.write_text("A note that must not land in another program's store.")
    before = folder_files(folder)
    listed = cli("collections", "--store", str(folder)).stdout
    assert "docs" in listed and "wide" in listed
    proc = cli("ingest", str(note), "--store", str(folder), "--collection", "docs", check=False)
    assert proc.returncode == 1 and "only read here" in proc.stderr and "Traceback" not in proc.stderr
    assert folder_files(folder) == before
