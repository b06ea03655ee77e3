"""A Chroma folder made by plain chromadb code in another process, opened here read-only."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from streamlit.testing.v1 import AppTest

from conftest import ROOT
from core.embedders import known_embedder
from core.errors import EmbedderUnavailable, ReadOnlyCollection
from core.projection import ProjectionSettings, load_points, project
from core.search import search
from core.stores import open_store
from core.stores.chroma import _schema
from core.types import Filter
from core.workspace import check_query_embedder, open_workspace
from app_pages import finish_jobs
from map_fixtures import map_data, points_by_category
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


# -- a real folder made by an older chromadb (tests/data/old_chroma: chromadb 0.5.23) ---------

OLD_CHROMA = Path(__file__).resolve().parent / "data" / "old_chroma" / "store.tar.gz"
MIGRATED = "with an older chromadb: it is read from a copy in data/cache/foreign, upgraded to this chromadb"


@pytest.fixture
def old_folder(tmp_path) -> Path:
    """The committed chromadb 0.5.23 folder, unpacked: 'novels' (120 paragraphs of two novels, their
    MiniLM vectors, cosine space, no saved embedding function, as chromadb 0.x saved none) and 'wide'
    (768-d seeded random vectors, l2 space, a saved vector index, some rows without a document or metadata)."""
    with tarfile.open(OLD_CHROMA) as archive:
        archive.extractall(tmp_path / "old", filter="data")
    return tmp_path / "old" / "store"


def test_an_older_chromadb_folder_is_read_from_a_migrated_copy_and_stays_as_it_was(old_folder, tmp_path,
                                                                                   monkeypatch):
    monkeypatch.setattr("core.config.DATA_DIR", tmp_path / "data")
    before = folder_files(old_folder)
    store = open_store(str(old_folder))
    assert MIGRATED in store.notice and "never written to" in store.notice
    infos = {c.name: (c.embedder.name, c.embedder.dimension, c.count) for c in store.list_collections()}
    # No embedding function saved (chromadb 0.x saved none; 1.x then queries with its default, MiniLM):
    # MiniLM is taken for the 384-d one because it reproduces its stored vectors.
    assert infos == {"novels": ("minilm", 384, 120), "wide": ("imported:unknown", 768, 120)}

    novels = open_workspace(store, "novels")
    assert check_query_embedder(novels.collection, novels.embedder).matches
    assert search(novels.collection, novels.embedder, "Bingley Netherfield", mode="keyword", k=3)[0] \
        .metadata["source"] == "pg1342_pride_and_prejudice.txt"
    for mode in ("vector", "hybrid"):
        top = search(novels.collection, novels.embedder, "the monster I created wanders the glaciers", mode=mode, k=3)
        assert [r.metadata["source"] for r in top] == ["pg84_frankenstein.txt"] * 3, mode
    vector_top = search(novels.collection, novels.embedder, "a ball where Mr. Darcy is rude", mode="vector", k=5)
    stored = novels.collection.get(ids=[r.id for r in vector_top], include_embeddings=True)
    query = novels.embedder.embed(["a ball where Mr. Darcy is rude"])[0]
    cosines = dict(zip(stored.ids, stored.embeddings @ query))
    assert all(abs(r.score - cosines[r.id]) < 1e-4 for r in vector_top)  # scores are cosines
    assert set(novels.collection.categories()) == {"gothic", "manners"}
    filtered = search(novels.collection, novels.embedder, "marriage", mode="hybrid", k=5,
                      where=Filter(categories=("gothic",)))
    assert filtered and {r.metadata["category"] for r in filtered} == {"gothic"}
    points = load_points(novels.collection)
    assert project(points.chunks.embeddings, ProjectionSettings(method="pca"), cache_dir=None).coords.shape == (120, 2)

    wide = open_workspace(store, "wide")
    assert wide.collection.embedder.dimension == 768 and not known_embedder(wide.embedder.name)
    rows = wide.collection.get(include_embeddings=True)
    assert rows.embeddings.shape == (120, 768)
    assert sum(t == "" for t in rows.texts) == 24 and sum(m == {} for m in rows.metadatas) == 18  # none missing: empty
    assert project(rows.embeddings, ProjectionSettings(method="pca"), cache_dir=None).coords.shape == (120, 2)
    assert search(wide.collection, wide.embedder, "Elizabeth", mode="keyword", k=3)
    # Nearest stored chunks of a chunk, in an l2-space index: ranked and scored by cosine like everywhere else.
    unit = rows.embeddings / np.linalg.norm(rows.embeddings, axis=1, keepdims=True)
    hits = wide.collection.vector_search(rows.embeddings[7], 5)
    assert hits[0].id == rows.ids[7] and abs(hits[0].score - 1.0) < 1e-4
    expected = unit @ unit[7]
    by_id = dict(zip(rows.ids, expected))
    assert all(abs(h.score - by_id[h.id]) < 1e-4 for h in hits)
    assert [h.id for h in hits] == [rows.ids[n] for n in np.argsort(-expected)[:5]]
    with pytest.raises(EmbedderUnavailable, match="cannot run"):
        search(wide.collection, wide.embedder, "Elizabeth", mode="vector", k=3)
    with pytest.raises(ReadOnlyCollection):
        store.delete_collection("novels")

    assert folder_files(old_folder) == before  # no byte changed, no file added: the copy was migrated
    assert _schema(old_folder / "chroma.sqlite3") == {"embeddings_queue": 2, "metadb": 4, "sysdb": 9}


def test_cli_on_an_older_chromadb_folder_says_it_reads_a_migrated_copy(old_folder):
    before = folder_files(old_folder)
    cache = ROOT / "data" / "cache"
    made_before = {p for part in ("foreign", "keyword") for p in (cache / part).glob("*")}
    try:
        listed = cli("collections", "--store", str(old_folder))
        assert MIGRATED in listed.stderr
        assert "novels" in listed.stdout and "minilm (384d)" in listed.stdout
        assert "imported:unknown (768d)" in listed.stdout
        for mode in ("vector", "keyword", "hybrid"):
            found = cli("search", "Elizabeth and Mr. Darcy", "--store", str(old_folder), "--collection", "novels",
                        "--mode", mode, "-k", "3", "--json")
            assert {r["metadata"]["source"] for r in json.loads(found.stdout)} == {"pg1342_pride_and_prejudice.txt"}
        refused = cli("search", "Elizabeth", "--store", str(old_folder), "--collection", "wide", "--mode", "vector",
                      check=False)
        assert refused.returncode == 1 and "cannot run" in refused.stderr and "Traceback" not in refused.stderr
        assert json.loads(cli("search", "Elizabeth", "--store", str(old_folder), "--collection", "wide",
                              "--mode", "keyword", "--json").stdout)
        # Rows stored without a document or metadata are how that program made them, not damage.
        checked = cli("check", "--store", str(old_folder)).stdout
        assert "novels (120 chunks): healthy" in checked and "wide (" in checked and "NOT healthy" not in checked
        assert "note: 24 chunk(s) have no text (made by another program: read as empty)" in checked
    finally:  # the CLI keeps its snapshot and keyword index in the repository's data/cache
        for made in {p for part in ("foreign", "keyword") for p in (cache / part).glob("*")} - made_before:
            shutil.rmtree(made) if made.is_dir() else made.unlink()
    assert folder_files(old_folder) == before


def test_app_opens_an_older_chromadb_folder_says_so_and_draws_its_map(old_folder, tmp_path, monkeypatch):
    monkeypatch.setattr("core.config.DATA_DIR", tmp_path / "data")
    monkeypatch.setenv("EXPLORER_STORE", str(old_folder))
    before = folder_files(old_folder)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.session_state["_collection_to_pick"] = "novels"
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["collection"] == "novels"
    assert any(MIGRATED in c.value for c in at.sidebar.caption)
    finish_jobs(at.switch_page("views/map.py").run())  # the points are read in the background
    assert not at.exception, at.exception
    data = map_data(at)
    assert data["points"]["n"] == 120  # one per chunk
    assert set(points_by_category(at)) >= {"gothic", "manners"}
    at.text_input(key="map_query").input("the creature on the glacier").run()  # MiniLM embeds the query
    assert not at.exception, at.exception
    assert map_data(at)["query"]["hits"]

    # The 768-d vectors-only collection: its map draws; typed texts are compared with the default model,
    # and its nearest chunks of a typed text say plainly why they cannot be found.
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.session_state["_collection_to_pick"] = "wide"
    at.run()
    assert at.session_state["collection"] == "wide" and at.sidebar.selectbox(key="query_model_wide")
    finish_jobs(at.switch_page("views/map.py").run())  # the points are read in the background
    assert not at.exception and not at.error, (at.exception, at.error)
    assert map_data(at)["points"]["n"] == 120
    at.switch_page("views/similarity.py").run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 1  # the heatmap of the typed texts
    assert [e.value for e in at.error] == [at.error[0].value] and "cannot run that model" in at.error[0].value
    assert folder_files(old_folder) == before
