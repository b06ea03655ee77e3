"""Vectors made elsewhere: files written by pyarrow, numpy and per the TensorFlow Projector's format,
imported into real stores, mapped and searched, and exported back out."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.cli import main as cli_main
from core.embedders import get_embedder
from core.errors import EmbedderUnavailable, ExplorerError
from core.projection import ProjectionSettings, load_points, project
from core.search import search
from core.stores import open_store
from core.vectorfiles import Fields, VectorFileError, export_vectors, import_vectors, open_vector_file
from core.workspace import open_workspace
from store_fixtures import backends
from test_cli import cli


def write_parquet(path: Path, corpus, fixed: bool = True, row_group: int = 50) -> None:
    vectors = pa.array(corpus.embeddings.ravel())
    column = pa.FixedSizeListArray.from_arrays(vectors, corpus.embeddings.shape[1]) if fixed else \
        pa.array([list(map(float, v)) for v in corpus.embeddings], type=pa.list_(pa.float32()))
    table = pa.table({"doc_id": [c.id for c in corpus.chunks], "body": [c.text for c in corpus.chunks],
                      "label": [c.metadata["category"] for c in corpus.chunks],
                      "year": list(range(len(corpus.chunks))), "embedding": column})
    pq.write_table(table, path, row_group_size=row_group)


def write_projector(folder: Path, corpus) -> tuple[Path, Path]:
    """vectors.tsv: one vector a line, tab-separated, no header; metadata.tsv: a header row for 2+ columns."""
    vectors, metadata = folder / "vectors.tsv", folder / "metadata.tsv"
    vectors.write_text("".join("\t".join(repr(float(x)) for x in v) + "\n" for v in corpus.embeddings))
    with metadata.open("w", newline="") as fh:
        fh.write("label\ttext\n")
        for chunk in corpus.chunks:
            fh.write(f"{chunk.metadata['category']}\t{' '.join(chunk.text.split())}\n")
    return vectors, metadata


def stored(collection) -> dict[str, tuple[str, dict, np.ndarray]]:
    rows = collection.get(include_embeddings=True)
    return {i: (t, m, v) for i, t, m, v in zip(rows.ids, rows.texts, rows.metadatas, rows.embeddings)}


@backends("chroma", "pgvector")
def test_parquet_import_keeps_vectors_text_and_metadata(store, new_name, long_docs_corpus, tmp_path):
    path = tmp_path / "notebook.parquet"
    write_parquet(path, long_docs_corpus, row_group=17)
    name = new_name(store)
    report = import_vectors(path, store, name, Fields(text="body", id="doc_id", category="label"), batch_rows=20)
    assert report.rows == len(long_docs_corpus.chunks) and report.embedder == "imported:unknown"
    workspace = open_workspace(store, name)
    rows = stored(workspace.collection)
    assert set(rows) == {c.id for c in long_docs_corpus.chunks}
    for n, chunk in enumerate(long_docs_corpus.chunks):
        text, metadata, vector = rows[chunk.id]
        assert text == chunk.text and metadata["category"] == chunk.metadata["category"]
        assert metadata["year"] == n and metadata["source"] == str(path.resolve())
        np.testing.assert_allclose(vector, long_docs_corpus.embeddings[n], atol=1e-6)
    # The map and keyword search work from what is stored; a text query says why it cannot be embedded.
    points = load_points(workspace.collection)
    assert project(points.chunks.embeddings, ProjectionSettings(method="pca")).coords.shape == (len(rows), 2)
    assert search(workspace.collection, workspace.embedder, "Elizabeth", mode="keyword", k=3)
    with pytest.raises(EmbedderUnavailable, match="cannot run"):
        search(workspace.collection, workspace.embedder, "Elizabeth", mode="hybrid", k=3)


def test_reimport_replaces_rows_and_a_list_column_works(tmp_path, long_docs_corpus):
    path = tmp_path / "plain-list.parquet"
    write_parquet(path, long_docs_corpus, fixed=False)
    store = open_store(str(tmp_path / "store"))
    for _ in range(2):
        import_vectors(path, store, "mine", Fields(text="body", id="doc_id"))
    assert open_workspace(store, "mine").collection.count() == len(long_docs_corpus.chunks)


def test_named_model_makes_the_import_searchable_by_text(tmp_path, long_docs_corpus):
    path = tmp_path / "minilm.parquet"
    write_parquet(path, long_docs_corpus)
    store = open_store(str(tmp_path / "store"))
    import_vectors(path, store, "with-model", Fields(text="body", id="doc_id", category="label"), model="minilm")
    workspace = open_workspace(store, "with-model")
    assert workspace.embedder.name == "minilm"
    top = search(workspace.collection, workspace.embedder, "a monster made by a scientist", mode="vector", k=3)
    assert top and all(r.metadata["source"] == str(path.resolve()) for r in top)
    with pytest.raises(ExplorerError, match="384"):
        import_vectors(path, store, "wrong-size", Fields(id="doc_id"), model="openai-small")


def test_npy_with_metadata_csv(tmp_path, long_docs_corpus):
    vectors, metadata = tmp_path / "vectors.npy", tmp_path / "rows.csv"
    np.save(vectors, long_docs_corpus.embeddings.astype(np.float16))  # any numeric dtype
    with metadata.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "category"])
        writer.writerows([c.id, c.text, c.metadata["category"]] for c in long_docs_corpus.chunks)
    store = open_store(str(tmp_path / "store"))
    import_vectors(vectors, store, "from-npy", Fields(id="id", category="category"), metadata=metadata,
                   batch_rows=7)
    rows = stored(open_workspace(store, "from-npy").collection)
    first = long_docs_corpus.chunks[0]
    assert rows[first.id][0] == first.text and rows[first.id][1]["category"] == first.metadata["category"]
    np.testing.assert_allclose(rows[first.id][2], long_docs_corpus.embeddings[0], atol=2e-3)


def test_projector_tsv_pair_through_the_cli(tmp_path, long_docs_corpus):
    vectors, metadata = write_projector(tmp_path, long_docs_corpus)
    store = str(tmp_path / "store")
    proc = cli("import", str(vectors), "--metadata", str(metadata), "--store", store, "--collection", "projector",
               "--category-field", "label")
    assert f"imported {len(long_docs_corpus.chunks)} vectors (384 dimensions)" in proc.stdout
    rows = stored(open_workspace(store, "projector").collection)
    assert rows["vectors-0"][1]["category"] == long_docs_corpus.chunks[0].metadata["category"]
    np.testing.assert_allclose(rows["vectors-0"][2], long_docs_corpus.embeddings[0], atol=1e-6)


def test_projector_single_column_metadata_has_no_header(tmp_path, long_docs_corpus):
    vectors, _ = write_projector(tmp_path, long_docs_corpus)
    labels = tmp_path / "labels.tsv"
    labels.write_text("".join(c.metadata["category"] + "\n" for c in long_docs_corpus.chunks))
    source = open_vector_file(vectors, Fields(category="label"), labels)
    batches = list(source.batches)
    assert sum(len(b.ids) for b in batches) == len(long_docs_corpus.chunks)
    assert batches[0].metadatas[0]["category"] == long_docs_corpus.chunks[0].metadata["category"]


@pytest.mark.parametrize("suffix", [".parquet", ".npy", ".tsv"])
def test_export_then_import_round_trips(tmp_path, long_docs_corpus, suffix):
    path = tmp_path / "source.parquet"
    write_parquet(path, long_docs_corpus)
    store = open_store(str(tmp_path / "store"))
    import_vectors(path, store, "original", Fields(text="body", id="doc_id", category="label"))
    out = tmp_path / f"export{suffix}"
    written = cli("export", str(out), "--store", str(tmp_path / "store"), "--collection", "original").stdout
    assert str(out) in written
    fields = {".parquet": Fields(id="id", category="category"), ".npy": Fields(id="id", category="category"),
              ".tsv": Fields(id="id", category="category")}[suffix]
    metadata = {".parquet": None, ".npy": out.with_suffix(".jsonl"), ".tsv": tmp_path / "export_metadata.tsv"}[suffix]
    import_vectors(out, store, "again", fields, metadata=metadata)
    before, after = stored(open_workspace(store, "original").collection), stored(open_workspace(store, "again").collection)
    assert set(before) == set(after)
    for row_id, (text, metadata_before, vector) in before.items():
        np.testing.assert_allclose(after[row_id][2], vector, atol=1e-5)
        assert after[row_id][1]["category"] == metadata_before["category"]
        if suffix != ".tsv":  # the Projector's metadata keeps the text on one line, cut to 500 characters
            assert after[row_id][0] == text


def test_bad_files_say_what_is_wrong_and_leave_nothing_behind(tmp_path, long_docs_corpus):
    store = open_store(str(tmp_path / "store"))
    nan = tmp_path / "nan.npy"
    vectors = long_docs_corpus.embeddings.copy()
    vectors[5, 3] = np.nan
    np.save(nan, vectors)
    with pytest.raises(VectorFileError, match="row 6 has a NaN"):
        import_vectors(nan, store, "broken", batch_rows=4)
    ragged = tmp_path / "ragged.parquet"
    pq.write_table(pa.table({"embedding": pa.array([[0.1, 0.2], [0.3]], type=pa.list_(pa.float32()))}), ragged)
    with pytest.raises(VectorFileError, match="row 2 has 1 numbers"):
        import_vectors(ragged, store, "broken")
    duplicate = tmp_path / "dup.parquet"
    pq.write_table(pa.table({"id": ["a", "a"], "embedding": pa.array([[0.1, 0.2], [0.3, 0.4]])}), duplicate)
    with pytest.raises(VectorFileError, match="id 'a' appears twice"):
        import_vectors(duplicate, store, "broken", Fields(id="id"))
    with pytest.raises(VectorFileError, match="no text field 'body'"):
        import_vectors(duplicate, store, "broken", Fields(text="body"))
    short = tmp_path / "short.csv"
    short.write_text("id\nx\n")
    with pytest.raises(VectorFileError, match="has 1 rows for"):
        import_vectors(nan, store, "broken", metadata=short)
    with pytest.raises(VectorFileError, match="unknown vector file type"):
        import_vectors(tmp_path / "short.csv", store, "broken")
    assert "broken" not in {c.name for c in store.list_collections()}
    proc = cli("import", str(nan), "--store", str(tmp_path / "store"), "--collection", "broken", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "NaN" in proc.stderr


def test_parquet_is_read_in_batches(tmp_path):
    """A file far larger than one batch streams: each batch holds at most batch_rows rows, and the
    Arrow memory in use while reading stays about one row group, not the part of the file read so far."""
    path = tmp_path / "big.parquet"
    rows, dimension, group = 200_000, 64, 10_000
    flat = pa.array(np.random.default_rng(0).random(rows * dimension, dtype=np.float32))
    pq.write_table(pa.table({"embedding": pa.FixedSizeListArray.from_arrays(flat, dimension)}), path,
                   row_group_size=group)
    del flat
    source = open_vector_file(path, batch_rows=3_000)
    sizes, held = [], []
    for batch in source.batches:
        sizes.append(len(batch.ids))
        held.append(pa.total_allocated_bytes())
    assert source.rows == rows and sum(sizes) == rows and max(sizes) <= 3_000
    file_bytes = rows * dimension * 4  # 51 MB of vectors
    assert max(held) < 4 * group * dimension * 4 < file_bytes / 4, f"{max(held):,} bytes held"


def test_a_query_embedder_is_accepted_only_when_it_reproduces_the_stored_vectors(tmp_path, long_docs_corpus):
    from core.workspace import check_query_embedder, with_query_embedder

    path = tmp_path / "unnamed.parquet"
    write_parquet(path, long_docs_corpus)
    store = open_store(str(tmp_path / "store"))
    import_vectors(path, store, "unnamed", Fields(text="body", id="doc_id"))
    workspace = open_workspace(store, "unnamed")
    searchable = with_query_embedder(workspace, "minilm")  # the vectors are MiniLM's: accepted
    assert search(searchable.collection, searchable.embedder, "Victor Frankenstein", mode="hybrid", k=3)
    other = check_query_embedder(workspace.collection, get_embedder("bow-hash"))
    assert not other.matches and other.cosine is not None and other.cosine < 0.9
    with pytest.raises(ExplorerError, match="does not reproduce"):
        with_query_embedder(workspace, "bow-hash")


# -- issue 20: imports all-or-nothing, clear lines for bad metadata files ---------------------------------------


def small_parquet(path: Path, rows: int, dimension: int = 8, bad_row: int | None = None, ids=None) -> np.ndarray:
    vectors = np.random.default_rng(rows).normal(size=(rows, dimension)).astype(np.float32)
    if bad_row is not None:
        vectors[bad_row, 3] = np.nan
    ids = ids if ids is not None else [f"r{n}" for n in range(rows)]
    pq.write_table(pa.table({"id": ids, "text": [f"row number {n}" for n in range(rows)],
                             "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dimension)}),
                   path, row_group_size=7)
    return vectors


@backends("chroma", "pgvector")
def test_a_bad_row_late_in_a_file_leaves_an_existing_collection_exactly_as_it_was(store, new_name, tmp_path):
    """Issue 20: a NaN at row 15,001 of 25,000 stopped the import with a clear error, yet the existing
    collection grew from 20 to 10,020 rows. The same at 1/1000 the size, in batches of 10."""
    name = new_name(store)
    small_parquet(tmp_path / "first.parquet", 20)
    import_vectors(tmp_path / "first.parquet", store, name, Fields(id="id", text="text"))
    collection = open_workspace(store, name).collection
    before = (collection.count(), collection.version(), sorted(collection.get().ids))
    small_parquet(tmp_path / "more.parquet", 25, bad_row=15, ids=[f"new{n}" for n in range(25)])
    with pytest.raises(VectorFileError, match="row 16 has a NaN"):
        import_vectors(tmp_path / "more.parquet", store, name, Fields(id="id", text="text"), batch_rows=10)
    assert (collection.count(), collection.version(), sorted(collection.get().ids)) == before


def test_a_killed_import_is_incomplete_until_run_again(tmp_path):
    """Issue 20: `kill -9` during an import left 28,000 of 60,000 rows and `check` said healthy."""
    import subprocess
    import sys

    from conftest import ROOT

    path, store = tmp_path / "big.parquet", str(tmp_path / "store")
    small_parquet(path, 30)
    code = ("import sys; from core.stores import open_store; from core.vectorfiles import Fields, import_vectors; "
            "import_vectors(sys.argv[1], open_store(sys.argv[2]), 'rows', Fields(id='id', text='text'), batch_rows=10)")
    killed = subprocess.run([sys.executable, "-c", code, str(path), store], cwd=ROOT, capture_output=True,
                            env={**__import__("os").environ, "EXPLORER_CRASH_AT": "6"})  # the second batch's rows
    assert killed.returncode == 137
    checked = cli("check", "--store", store, check=False)
    assert checked.returncode == 1 and "incomplete: an import of" in checked.stdout, checked.stdout
    assert cli("import", str(path), "--store", store, "--collection", "rows", "--id-field", "id").returncode == 0
    assert "rows (30 chunks): healthy" in cli("check", "--store", store).stdout


def test_zero_vectors_and_null_ids_are_refused_with_the_row(tmp_path):
    """Issue 20: zero vectors were accepted by `import` and then called unusable; a null id became "None"."""
    store = open_store(str(tmp_path / "store"))
    vectors = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    vectors[4] = 0
    np.save(tmp_path / "zero.npy", vectors)
    with pytest.raises(VectorFileError, match="row 5 is a zero vector"):
        import_vectors(tmp_path / "zero.npy", store, "zeros")
    small_parquet(tmp_path / "null.parquet", 6, ids=["a", "b", None, "d", "e", "f"])
    with pytest.raises(VectorFileError, match=r"row 3 has no id \(the id field 'id' is empty\)"):
        import_vectors(tmp_path / "null.parquet", store, "nulls", Fields(id="id"))
    assert store.list_collections() == []


def test_bad_metadata_files_and_shapes_get_one_line(tmp_path, capsys):
    """Issue 20: a FIFO as --metadata hung; Latin-1, missing and folder metadata files and a .npy of shape
    (5, 0) ended in tracebacks, and so did a metadata cell over 128 KB (now read whole)."""
    import os

    np.save(tmp_path / "v.npy", np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32))
    np.save(tmp_path / "empty-rows.npy", np.zeros((5, 0), np.float32))
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "latin1.csv").write_bytes("id,text\n1,caf\xe9\n2,na\xefve\n3,x\n".encode("latin-1"))
    (tmp_path / "huge.csv").write_text("id,text\n1," + "x" * 200_000 + "\n2,b\n3,c\n")
    cases = {("v.npy", "pipe.csv"): "is not a regular file (a FIFO",
             ("v.npy", "folder.csv"): "is a folder, not a metadata file",
             ("v.npy", "missing.csv"): "no such metadata file",
             ("v.npy", "latin1.csv"): "not UTF-8 text",
             ("empty-rows.npy", None): "5 vectors of 0 numbers each"}
    store = str(tmp_path / "store")
    for (vectors, metadata), says in cases.items():
        args = ["import", str(tmp_path / vectors), "--store", store, "--collection", "bad"]
        if metadata:
            args += ["--metadata", str(tmp_path / metadata)]
        code = cli_main(args)  # in this process: an uncaught error would fail the test with its traceback
        err = capsys.readouterr().err
        assert code == 1 and len(err.strip().splitlines()) == 1 and says in err, (vectors, metadata, err)
    assert open_store(store).list_collections() == []
    # A cell over csv's 128 KB default is a long text, not an error (as in an ingested CSV).
    assert cli_main(["import", str(tmp_path / "v.npy"), "--store", store, "--collection", "big-cells",
                     "--metadata", str(tmp_path / "huge.csv"), "--id-field", "id", "--text-field", "text"]) == 0
    rows = open_workspace(store, "big-cells").collection.get(ids=["1"])
    assert len(rows.texts[0]) == 200_000


def test_two_vector_files_of_one_name_in_two_folders_are_two_sources_and_never_replace_each_other(tmp_path):
    """Imported rows were known by the bare file name, and without an id column by `<stem>-<row>`: a second
    vectors.npy from another folder replaced the first's rows. Now a file is its resolved path (as an
    ingested file is), and ids another file's rows hold are refused before anything is written."""
    store = open_store(str(tmp_path / "store"))
    files = []
    for folder, words in (("a", "tides harbour"), ("b", "glacier drone")):
        (tmp_path / folder).mkdir()
        np.save(tmp_path / folder / "vectors.npy", np.eye(3, 8, dtype=np.float32) + 0.1)
        (tmp_path / folder / "rows.csv").write_text("id,text\n" + "".join(f"{folder}{n},{words} {n}\n" for n in range(3)))
        (tmp_path / folder / "plain.csv").write_text("text\n" + "".join(f"{words} {n}\n" for n in range(3)))
        files.append(tmp_path / folder / "vectors.npy")
    for path in files:
        import_vectors(path, store, "mixed", Fields(id="id"), metadata=path.parent / "rows.csv")
    collection = open_workspace(store, "mixed").collection
    assert sorted(s.source for s in collection.sources()) == sorted(str(p.resolve()) for p in files)
    assert collection.count() == 6
    import_vectors(files[0], store, "plain", metadata=files[0].parent / "plain.csv")
    import_vectors(files[0], store, "plain", metadata=files[0].parent / "plain.csv")  # again: replaces its own rows
    plain = open_workspace(store, "plain").collection
    before = (plain.count(), plain.version())
    with pytest.raises(ExplorerError, match="row id 'vectors-0' is held already by a row of another file "
                                            r"\('vectors.npy'\); importing would replace it"):
        import_vectors(files[1], store, "plain", metadata=files[1].parent / "plain.csv")
    assert (plain.count(), plain.version()) == before == (3, before[1])
