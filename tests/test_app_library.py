"""The Library & chunking page under AppTest, writing to a store of its own."""
from __future__ import annotations

from pathlib import Path

import pytest

from app_pages import finish_jobs, open_page, texts
from browser_fixtures import free_port
from core.config import DEFAULT_CHUNKING
from core.documents import DocumentKey
from core.pipeline import LoadOptions, Upload, ingest
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
    finish_jobs(at.button(key="ingest").click().run())  # the ingest is a background job of the session
    assert not at.exception
    assert any(s.startswith("1 file(s): 1 chunks added") for s in texts(at.success))
    assert any(e.startswith("Not ingested: broken.pdf") for e in texts(at.error))
    documents = at.dataframe[0].value
    assert set(documents["document"]) == {"owls.md", "crows.txt"}

    at.selectbox(key="doomed_document").set_value(DocumentKey("crows.txt"))
    at.button(key="delete_document").click().run()
    assert "Deleted 'crows.txt' (1 chunks)." in texts(at.success)
    assert set(at.dataframe[0].value["document"]) == {"owls.md"}


def test_an_ingest_goes_on_while_the_visitor_is_on_another_page(library):
    """Started, left for the search page, back: the ingest finished without the page, and the Library (its
    uploader empty again) says so and lists the document."""
    at = library
    at.file_uploader(key="uploads").set_value([
        ("wrens.txt", b"Wrens sing loudly for such small birds.\n", "text/plain")]).run()
    at.button(key="ingest").click().run()
    job = at.session_state["_jobs"]["ingest"]
    at.switch_page("views/search.py").run()
    assert job.wait(60)
    at.switch_page("views/library.py").run()
    assert not at.exception and not at.error, texts(at.error)
    assert any(s.startswith("1 file(s): 1 chunks added") for s in texts(at.success))
    assert set(at.dataframe[0].value["document"]) == {"owls.md", "wrens.txt"}
    assert not at.session_state["_jobs"]


def test_missing_paths_are_flagged_before_ingesting(library, tmp_path: Path):
    at = library
    (tmp_path / "here.txt").write_text("Herons stand still in shallow water and wait for fish.\n")
    at.radio(key="source_kind").set_value("Files on this machine (paths)").run()
    at.text_area(key="paths").input(f"{tmp_path}/nowhere.txt\n{tmp_path}/here.txt").run()
    assert not at.exception
    assert f"Not found, so left out: {tmp_path}/nowhere.txt" in texts(at.error)
    assert at.button(key="ingest").label == "Ingest 1 file(s) into 'notes'"
    finish_jobs(at.button(key="ingest").click().run())
    assert any(s.startswith("1 file(s): 1 chunks added") for s in texts(at.success))
    # Known by its full path, shown by its name: the only local file, so relative to its own folder.
    assert set(at.dataframe[0].value["document"]) == {"owls.md", "here.txt"}


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
    finish_jobs(at.button(key="ingest").click().run())
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


# -- rows of a CSV / JSONL file are documents (issue 20) -----------------------------------------

NEWS = [("a1", "business", "Shares in the brewer rose after strong summer sales."),
        ("a2", "sport", "The club signed a striker on the last day of the window."),
        ("a3", "business", "Shares in the brewer rose after strong summer sales."),  # the same text as a1
        ("a4", "tech", "A new phone folds twice and fits in a coat pocket."),
        ("a5", "sport", "Rain stopped play before lunch on the second day.")]


@pytest.fixture
def news(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minilm):
    """Five articles of one JSONL file (two with identical text) in the collection 'notes', beside owls.md."""
    import json

    folder = tmp_path / "server" / "private" / "feeds"
    folder.mkdir(parents=True)
    path = folder / "news.jsonl"
    path.write_text("".join(json.dumps({"id": i, "category": c, "text": t}) + "\n" for i, c, t in NEWS))
    collection = open_store(str(tmp_path / "store")).open_collection("notes", minilm.info)
    ingest([Upload("owls.md", NOTES.encode())], collection, minilm, DEFAULT_CHUNKING)
    ingest([path], collection, minilm, DEFAULT_CHUNKING, LoadOptions(category_field="category", id_field="id"))
    monkeypatch.setenv("EXPLORER_STORE", str(tmp_path / "store"))
    return path


def test_each_row_is_listed_once_as_file_and_row_id(news):
    at = open_page()
    listed = list(at.dataframe[0].value["document"])
    assert sorted(listed) == sorted(["owls.md", *(f"news.jsonl › {i}" for i, _, _ in NEWS)])
    assert not any(str(news.parent) in d for d in listed)  # never where the file sits on the server


def test_deleting_a_file_of_many_rows_states_the_count_and_asks_first(news):
    at = open_page()
    at.selectbox(key="doomed_document").set_value(DocumentKey(str(news))).run()
    assert at.button(key="delete_document").disabled
    assert at.button(key="delete_document").label == "Delete 5 documents"
    assert at.checkbox(key="confirm_delete_document").label == \
        "Yes, delete all 5 documents (5 chunks) of 'news.jsonl'"
    at.checkbox(key="confirm_delete_document").check().run()
    at.button(key="delete_document").click().run()
    assert "Deleted 'news.jsonl' (5 chunks)." in texts(at.success)
    assert list(at.dataframe[0].value["document"]) == ["owls.md"]


def test_deleting_one_row_deletes_that_row_only(news):
    at = open_page()
    at.selectbox(key="doomed_document").set_value(DocumentKey(str(news), "a2")).run()
    assert not at.button(key="delete_document").disabled  # one document: no question
    at.button(key="delete_document").click().run()
    assert "Deleted 'news.jsonl › a2' (1 chunks)." in texts(at.success)
    assert "news.jsonl › a2" not in list(at.dataframe[0].value["document"])
    assert len(at.dataframe[0].value) == 5


def test_search_results_are_headed_by_file_and_row_id(news):
    at = open_page("views/search.py")
    at.radio(key="mode").set_value("keyword")
    at.text_input(key="query").input("striker window").run()
    assert not at.exception and not at.error
    headings = [h.value for h in at.html if "heading" in h.value]
    assert headings and "news.jsonl › a2" in headings[0]
    assert not any(str(news.parent) in h for h in headings)


def test_search_filters_by_row_so_one_document_of_a_file_can_be_chosen(news):
    """The file filter was per file: a1 and a3 (identical texts) could not be told apart. A chosen file's rows
    are offered as documents (`news.jsonl › a1`); picking some searches only them, in every mode."""
    at = open_page("views/search.py")
    assert not [m for m in at.multiselect if m.key == "search_rows"]  # no file chosen: no row picker
    at.multiselect(key="sources").set_value([str(news.resolve())]).run()
    rows = at.multiselect(key="search_rows")
    assert rows.options == [f"news.jsonl › {i}" for i, _, _ in NEWS]
    rows.set_value([DocumentKey(str(news.resolve()), "a3"), DocumentKey(str(news.resolve()), "a4")])
    at.text_input(key="query").input("Shares in the brewer rose after strong summer sales").run()
    for mode in ("keyword", "vector", "hybrid"):
        at.radio(key="mode").set_value(mode).run()
        assert not at.exception and not at.error
        headings = [h.value for h in at.html if "heading" in h.value]
        assert "news.jsonl › a3" in headings[0] and len(headings) == (1 if mode == "keyword" else 2)
        assert not any("› a1" in h or "owls.md" in h for h in headings)


def test_near_duplicates_across_rows_of_one_file_count_as_across_documents(news):
    at = finish_jobs(open_page("views/duplicates.py"))
    assert not at.exception
    assert next(m.value for m in at.metric if m.label == "Across documents") == "1"
    assert any("news.jsonl › a1" in str(v) for v in at.dataframe[0].value["documents"])


def test_two_uploads_with_one_name_under_one_label_are_refused_before_the_button(library):
    at = library
    at.file_uploader(key="uploads").set_value([
        ("notes.txt", b"Wrens sing loudly for such small birds.\n", "text/plain"),
        ("notes.txt", b"Robins follow gardeners for worms.\n", "text/plain")])
    at.text_input(key="upload_folder").input("garden").run()
    assert not at.exception
    assert any("would both be the document 'garden/notes.txt'" in e for e in texts(at.error))
    assert not [b for b in at.button if b.key == "ingest"]  # nothing to press: nothing is written
    assert set(at.dataframe[0].value["document"]) == {"owls.md"}
