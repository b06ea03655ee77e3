"""The Library & chunking page under AppTest, writing to a store of its own."""
from __future__ import annotations

from pathlib import Path

import pytest

from app_pages import open_page, texts
from browser_fixtures import free_port
from core.config import DEFAULT_CHUNKING
from core.pipeline import Upload, ingest
from core.stores import open_store

NOTES = "# Owls\n\nOwls hunt at night. Their feathers are soft, so their flight is silent.\n"


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minilm):
    """The library page on a fresh store holding one small collection, 'notes'."""
    collection = open_store(str(tmp_path / "store")).open_collection("notes", minilm.info)
    ingest([Upload("owls.md", NOTES.encode())], collection, minilm, DEFAULT_CHUNKING)
    monkeypatch.setenv("EXPLORER_STORE", str(tmp_path / "store"))
    return open_page()  # the Library page is the default one


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_preview_follows_the_chunk_settings(library):
    at = library
    at.radio(key="source_kind").set_value("Built-in sample").run()
    assert not at.exception and not at.error
    assert "Category: romance novel" in texts(at.caption)
    default_chunks = int(metric(at, "Chunks"))
    assert any('class="chunk"' in h.value for h in at.html)
    at.number_input(key="size").set_value(100).run()
    assert int(metric(at, "Chunks")) > default_chunks
    at.number_input(key="overlap").set_value(30).run()
    assert any('class="overlap"' in h.value for h in at.html)
    at.number_input(key="overlap").set_value(0)
    at.number_input(key="size").set_value(600).run()
    over = int(metric(at, "Over 256 tokens"))
    assert over > 0
    assert any("256-token limit" in w for w in texts(at.warning))
    # Chunks are numbered where they start in the preview, and those over the limit marked there.
    [shown] = [h.value for h in at.html if 'class="chunk"' in h.value]
    assert '<span class="label"' in shown and ">#1<" in shown
    assert shown.count('<span class="over-limit"') == over
    at.number_input(key="overlap").set_value(600).run()
    assert any("overlap must be" in e for e in texts(at.error))
    assert not at.exception


def test_upload_ingest_reports_bad_files_and_delete_document(library):
    at = library
    at.file_uploader(key="uploads").set_value([
        ("crows.txt", b"Crows remember faces and pass grudges to their young.\n", "text/plain"),
        ("broken.pdf", b"this is not a pdf at all", "application/pdf")]).run()
    assert not at.exception
    at.button(key="ingest").click().run()
    assert not at.exception
    assert any(s.startswith("1 file(s): 1 chunks added") for s in texts(at.success))
    assert any(e.startswith("Not ingested: broken.pdf") for e in texts(at.error))
    documents = at.dataframe[0].value
    assert set(documents["document"]) == {"owls.md", "crows.txt"}

    at.selectbox(key="doomed_document").set_value("crows.txt")
    at.button(key="delete_document").click().run()
    assert "Deleted 'crows.txt' (1 chunks)." in texts(at.success)
    assert set(at.dataframe[0].value["document"]) == {"owls.md"}


def test_missing_paths_are_flagged_before_ingesting(library, tmp_path: Path):
    at = library
    (tmp_path / "here.txt").write_text("Herons stand still in shallow water and wait for fish.\n")
    at.radio(key="source_kind").set_value("Files on this machine (paths)").run()
    at.text_area(key="paths").input(f"{tmp_path}/nowhere.txt\n{tmp_path}/here.txt").run()
    assert not at.exception
    assert f"Not found (or not a file), so left out: {tmp_path}/nowhere.txt" in texts(at.error)
    assert at.button(key="ingest").label == "Ingest 1 file(s) into 'notes'"
    at.button(key="ingest").click().run()
    assert any(s.startswith("1 file(s): 1 chunks added") for s in texts(at.success))
    assert set(at.dataframe[0].value["document"]) == {"owls.md", f"{tmp_path}/here.txt"}  # a path given on its own: its full path


def test_upload_into_a_new_collection_in_one_step(library):
    at = library
    at.file_uploader(key="uploads").set_value([
        ("bats.txt", b"Bats find insects in the dark by listening to echoes.\n", "text/plain")]).run()
    at.selectbox(key="ingest_into").set_value("A new collection…").run()
    assert at.button(key="ingest").disabled  # no name yet
    at.text_input(key="ingest_new_name").input("notes").run()
    assert any("exists already" in e for e in texts(at.error)) and at.button(key="ingest").disabled
    at.text_input(key="ingest_new_name").input("animals").run()
    assert at.button(key="ingest").label == "Ingest 1 file(s) into new collection 'animals'"
    at.button(key="ingest").click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert at.sidebar.selectbox[0].value == "animals"  # and it is now the current collection
    assert any(s.startswith("1 file(s): 1 chunks added") for s in texts(at.success))
    assert set(at.dataframe[0].value["document"]) == {"bats.txt"}
    assert at.selectbox(key="doomed_collection").value == "animals"  # the delete picker follows it


def test_create_select_and_delete_a_collection(library):
    at = library
    assert "OpenAI text-embedding-3-small (needs OPENAI_API_KEY)" in " ".join(texts(at.caption))
    at.text_input(key="new_collection").input("scratch-1").run()
    at.button(key="create_collection").click().run()
    assert not at.exception
    assert at.sidebar.selectbox[0].value == "scratch-1"
    assert "This collection is empty: add documents above." in texts(at.info)
    at.selectbox(key="doomed_collection").set_value("scratch-1").run()
    assert at.button(key="delete_collection").disabled
    at.checkbox(key="confirm_delete").check().run()
    at.button(key="delete_collection").click().run()
    assert "Deleted collection 'scratch-1'." in texts(at.success)
    assert at.sidebar.selectbox[0].options == ["notes · minilm · 1 chunks"]


def test_unreachable_stores_are_errors_and_passwords_stay_hidden(library, monkeypatch: pytest.MonkeyPatch):
    at = library
    assert {"OpenAI key: **not set**", "Anthropic key: **not set**"} <= set(texts(at.sidebar.markdown))
    at.sidebar.radio[0].set_value("Chroma server").run()
    port = free_port()
    at.sidebar.text_input[0].set_value(f"127.0.0.1:{port}").run()
    assert not at.exception
    assert any(f"chroma://127.0.0.1:{port}" in e and "Chroma" in e for e in texts(at.sidebar.error))
    assert at.session_state["collection"] is None
    assert "Pick or create a collection on the Library page first." in texts(at.info)

    monkeypatch.setenv("DATABASE_URL", "postgresql://explorer:s3cr3t-pw@127.0.0.1:1/explorer")
    at.sidebar.radio[0].set_value("PostgreSQL + pgvector").run()
    assert not at.exception
    # The configured URL is offered by name, masked, and is no widget's value.
    assert at.sidebar.selectbox(key="pg_source").options == [
        "DATABASE_URL: postgresql://explorer:***@127.0.0.1:1/explorer", "Another URL…"]
    assert not at.sidebar.text_input
    assert at.sidebar.error and not any("s3cr3t" in t for t in texts(at.error) + texts(at.caption))
    at.sidebar.selectbox(key="pg_index").set_value("ivfflat").run()
    assert at.session_state["store_url"] == "postgresql://explorer:s3cr3t-pw@127.0.0.1:1/explorer?index=ivfflat"
    assert not any("s3cr3t" in t for t in texts(at.sidebar.error))
    # A URL typed here goes into a password box and is shown back masked.
    at.sidebar.selectbox(key="pg_source").set_value("another").run()
    typed = at.sidebar.text_input(key="pg_url")
    assert typed.proto.type == typed.proto.PASSWORD
    typed.set_value("postgresql://me:typed-pw@127.0.0.1:1/mine").run()
    assert "Connecting to postgresql://me:***@127.0.0.1:1/mine" in texts(at.sidebar.caption)
    assert at.sidebar.error and not any("typed-pw" in t for t in texts(at.error) + texts(at.caption))


def test_vectors_made_elsewhere_are_imported_from_the_page(library, long_docs_corpus):
    """A Parquet file written by pyarrow, uploaded on the Collections tab, becomes a collection."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    at = library
    flat = pa.array(long_docs_corpus.embeddings.ravel())
    table = pa.table({"doc": [c.id for c in long_docs_corpus.chunks], "body": [c.text for c in long_docs_corpus.chunks],
                      "embedding": pa.FixedSizeListArray.from_arrays(flat, long_docs_corpus.embeddings.shape[1])})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    at.file_uploader(key="import_file").set_value([("notebook.parquet", buffer.getvalue(), "application/octet-stream")]).run()
    at.text_input(key="import_collection").input("notebook").run()
    at.text_input(key="import_text").input("body").run()
    at.text_input(key="import_id").input("doc").run()
    at.button(key="import_vectors").click().run()
    # It runs on its own thread: leaving the page does not stop it, and the page shows it again on return.
    at.switch_page("views/search.py").run()
    assert at.session_state["_jobs"]["import"].wait(120)
    at.switch_page("views/library.py").run()  # reads the outcome, picks the collection, says so
    assert not at.exception and not at.error, texts(at.error)
    assert at.sidebar.selectbox[0].value == "notebook"
    assert any(f"imported {len(long_docs_corpus.chunks)} vectors" in s for s in texts(at.success))


def test_a_vectors_only_collection_borrows_a_query_model_that_reproduces_its_vectors(library, long_docs_corpus):
    test_vectors_made_elsewhere_are_imported_from_the_page(library, long_docs_corpus)
    at = library
    picker = next(s for s in at.sidebar.selectbox if s.label == "Embed queries with")
    assert picker.value == "none: vectors only" and "bow-hash" in picker.options
    picker.set_value("bow-hash").run()  # 384 dimensions too, but another model: refused
    assert any("does not reproduce the stored vectors" in w for w in texts(at.sidebar.warning))
    next(s for s in at.sidebar.selectbox if s.label == "Embed queries with").set_value("minilm").run()
    assert any("reproduces the stored vectors" in c for c in texts(at.sidebar.caption))
    at.switch_page("views/search.py").run()
    at.text_input(key="query").input("Victor Frankenstein and the creature").run()
    assert not at.exception and not at.error, texts(at.error)
    assert [h.value for h in at.html if "heading" in h.value]  # hybrid results, queries embedded by MiniLM
