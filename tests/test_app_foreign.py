"""Other programs' data in the real app: a pgvector table made by plain SQL, picked in the
sidebar from the catalog, mapped and searched and left exactly as it was; and a TensorFlow
Projector TSV pair imported on the Library page and mapped."""
from __future__ import annotations

import pytest

from app_pages import finish_jobs, open_page, texts
from map_fixtures import hover_previews, map_data, points_by_category
from store_fixtures import Corpus, ForeignTable
from test_app_sharing import sent_to_browser


def sidebar_box(at, label: str):
    return next(s for s in at.sidebar.selectbox if s.label == label)


@pytest.mark.postgres
def test_a_pgvector_table_picked_in_the_sidebar_is_mapped_searched_and_left_as_it_was(
        app_env, foreign_table: ForeignTable, long_docs_corpus: Corpus, monkeypatch: pytest.MonkeyPatch):
    # No database configured: the URL is typed, after "an existing table" is chosen, so no
    # collection of ours is ever opened (or made) in the foreign database.
    monkeypatch.delenv("DATABASE_URL")
    at = open_page()
    at.sidebar.radio(key="store_kind").set_value("PostgreSQL + pgvector").run()
    at.sidebar.radio(key="pg_contents").set_value("An existing table (read-only)").run()
    assert not at.exception
    # The default URL (localhost:5432) has no server: a plain message, no traceback, nothing opened.
    assert any("cannot read the tables of PostgreSQL" in e for e in texts(at.sidebar.error)), texts(at.sidebar.error)
    assert at.session_state["store_url"] is None and at.session_state["collection"] is None
    at.sidebar.selectbox(key="pg_source").set_value("another").run()
    at.sidebar.text_input(key="pg_url").set_value(foreign_table.database_url).run()
    assert not at.exception and not at.sidebar.error, texts(at.sidebar.error)

    name = f"app.{foreign_table.table}"
    table = at.sidebar.selectbox(key="pg_table")
    assert table.options == [name] and table.value == name
    assert sidebar_box(at, "Vector column").options == ["embedding (384 dimensions)"]
    assert sidebar_box(at, "Text column").options == ["(none)", "body", "label"]
    assert sidebar_box(at, "Text column").value == "body"
    assert sidebar_box(at, "Id column").value == "item_id"
    assert "bow-hash" in sidebar_box(at, "Model that made the vectors").options
    at.sidebar.selectbox(key=f"pg_category:{name}").set_value("label").run()
    at.sidebar.multiselect(key=f"pg_metadata:{name}").set_value(["year"]).run()
    assert not at.exception and not at.sidebar.error, texts(at.sidebar.error)
    assert at.session_state["collection"] == foreign_table.table
    # The URL built from the picks stays server-side; the collection is labelled with what the table says.
    assert at.session_state["store_url"].endswith(f"?table={name}&vector=embedding&text=body&id=item_id"
                                                  "&category=label&metadata=year")
    assert "table=" not in sent_to_browser(at)
    collection = sidebar_box(at, "Collection")
    assert collection.format_func(collection.value) == \
        f"{foreign_table.table} · imported:unknown · {len(long_docs_corpus.chunks):,} chunks"
    assert sidebar_box(at, "Embed queries with").value == "none: vectors only"

    finish_jobs(at.switch_page("views/map.py").run())  # the points are read in the background
    assert not at.exception and not at.error, texts(at.error)
    categories = {c.metadata["category"] for c in long_docs_corpus.chunks}
    drawn = points_by_category(at)
    assert set(drawn) == categories and sum(drawn.values()) == len(long_docs_corpus.chunks), drawn

    at.switch_page("views/search.py").run()
    at.radio(key="mode").set_value("keyword")
    at.text_input(key="query").input("Elizabeth Darcy").run()
    assert not at.exception and not at.error, texts(at.error)
    cards = [h.value for h in at.html if "heading" in h.value]
    assert len(cards) == 10 and all("Elizabeth" in c or "Darcy" in c for c in cards)

    # A model is checked against the stored vectors before it embeds queries: bow-hash (384-d too)
    # is refused and the table stays vectors-only; MiniLM, which made them, is taken.
    at.sidebar.selectbox(key=f"pg_model:{name}").set_value("bow-hash").run()
    assert any("does not reproduce the stored vectors" in w for w in texts(at.sidebar.warning))
    assert "model=" not in at.session_state["store_url"]
    at.sidebar.selectbox(key=f"pg_model:{name}").set_value("minilm").run()
    assert any("minilm reproduces the stored vectors" in c for c in texts(at.sidebar.caption))
    assert at.session_state["store_url"].endswith("&model=minilm")
    at.radio(key="mode").set_value("hybrid")
    at.text_input(key="query").input("the creature Victor Frankenstein made").run()
    assert not at.exception and not at.error, texts(at.error)
    cards = [h.value for h in at.html if "heading" in h.value]
    assert cards and "frankenstein" in cards[0].lower()

    assert foreign_table.snapshot() == foreign_table.before


@pytest.mark.postgres
def test_a_table_without_primary_key_waits_for_an_id_column(app_env, foreign_table: ForeignTable, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", foreign_table.database_url)  # offered by name, never typed
    name = foreign_table.add_loose_table(rows=5)
    at = open_page()
    # Both choices in one run: "this tool's collections" would make our tables in that database.
    at.session_state["pg_contents"] = "An existing table (read-only)"
    at.sidebar.radio(key="store_kind").set_value("PostgreSQL + pgvector").run()
    assert at.sidebar.radio(key="pg_contents").value == "An existing table (read-only)"
    assert not at.exception and not at.sidebar.error, texts(at.sidebar.error)
    assert at.sidebar.selectbox(key="pg_table").options == [f"app.{foreign_table.table}", name]
    at.sidebar.selectbox(key="pg_table").set_value(name).run()
    assert sidebar_box(at, "Vector column").options == ["v (no fixed size)"]
    assert sidebar_box(at, "Id column").value is None
    assert any("no single-column primary key" in i for i in texts(at.sidebar.info))
    assert at.session_state["store_url"] is None
    at.sidebar.selectbox(key=f"pg_id:{name}").set_value("n").run()
    assert not at.exception and not at.sidebar.error, texts(at.sidebar.error)
    assert at.session_state["collection"] == "loose"
    finish_jobs(at.switch_page("views/map.py").run())  # the points are read in the background
    assert not at.exception and not at.error, texts(at.error)
    assert sum(points_by_category(at).values()) == 5


def projector_pair(corpus: Corpus) -> tuple[bytes, bytes]:
    """vectors.tsv and metadata.tsv as the Embedding Projector documents them: one vector per line,
    tab-separated, no header; metadata with a header row because it has more than one column."""
    vectors = "".join("\t".join(f"{v:.7g}" for v in row) + "\n" for row in corpus.embeddings)
    metadata = "text\tlabel\tsource\n" + "".join(
        f"{' '.join(c.text.split())}\t{c.metadata['category']}\t{c.source}\n" for c in corpus.chunks)
    return vectors.encode(), metadata.encode()


def test_a_projector_tsv_pair_is_imported_on_the_library_page_and_mapped(tmp_path, monkeypatch, long_docs_corpus):
    monkeypatch.setenv("EXPLORER_STORE", str(tmp_path / "store"))
    at = open_page()  # an empty store gets the samples; the import goes into a collection of its own
    vectors, metadata = projector_pair(long_docs_corpus)
    at.file_uploader(key="import_file").set_value([("vectors.tsv", vectors, "text/tab-separated-values")]).run()
    at.file_uploader(key="import_metadata").set_value([("metadata.tsv", metadata, "text/tab-separated-values")]).run()
    at.text_input(key="import_collection").input("projector").run()
    at.text_input(key="import_category").input("label").run()
    at.button(key="import_vectors").click().run()
    assert at.session_state["_jobs"]["import"].wait(120)  # a background job of the session
    at.run()  # the page reads its outcome
    assert not at.exception and not at.error, texts(at.error)
    rows = len(long_docs_corpus.chunks)
    assert any(f"imported {rows} vectors (384 dimensions) into 'projector'" in s for s in texts(at.success))
    assert at.sidebar.selectbox[0].value == "projector"

    finish_jobs(at.switch_page("views/map.py").run())  # the points are read in the background
    assert not at.exception and not at.error, texts(at.error)
    drawn = points_by_category(at)
    assert drawn == {category: sum(c.metadata["category"] == category for c in long_docs_corpus.chunks)
                     for category in {"novel", "spec"}}, drawn
    hovers = " ".join(hover_previews(map_data(at)))
    assert "Elizabeth" in hovers  # the texts came from metadata.tsv's text column
