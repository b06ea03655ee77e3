"""Library & chunking: add documents, see how a chunker cuts them before anything
is embedded, ingest, and manage collections and documents."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from core.chunk_preview import ChunkPreview, first_document, preview
from core.chunking import METHODS, UNITS, validate
from core.config import DEFAULT_CHUNKING, DEFAULT_EMBEDDER
from core.embedders import available_embedders
from core.errors import ExplorerError
from core.highlight import chunk_segments
from core.loaders import SUPPORTED_EXTENSIONS
from core.pipeline import LoadOptions, Source, Upload, ingest
from core.samples import samples
from core.stores import Store
from core.types import ChunkSettings
from core.workspace import Workspace, open_workspace

MAX_UPLOAD_MB = 200  # .streamlit/config.toml server.maxUploadSize
SOURCE_KINDS = ("Upload files", "Built-in sample", "Files on this machine (paths)")

st.title("Library & chunking")
workspace = ui.current_workspace()
store = ui.current_store()


# -- choosing documents and chunk settings ----------------------------------------------

def chosen_sources() -> tuple[list[Source], str | None]:
    """The files picked, and the category the sample picker implies (None otherwise)."""
    policy = ui.policy()  # a shared app offers no paths on the server, and uploads only where writable
    kinds = [k for k in SOURCE_KINDS if (k != SOURCE_KINDS[0] or ui.can_upload(workspace))
             and (k != SOURCE_KINDS[2] or policy.allow_paths)]
    kind = st.radio("Documents", kinds, horizontal=True, key="source_kind")
    if kind == SOURCE_KINDS[0]:
        files = st.file_uploader("Files", type=[e.lstrip(".") for e in SUPPORTED_EXTENSIONS],
                                 accept_multiple_files=True, key="uploads", max_upload_size=ui.upload_limit_mb())
        st.caption(f"Up to {ui.upload_limit_mb()} MB per file (set by whoever runs this app)." if policy.shared else
                   f"Up to {MAX_UPLOAD_MB} MB per file (server.maxUploadSize in .streamlit/config.toml); "
                   "give larger files by path instead, they are read in parts.")
        return [Upload(f.name, f.getvalue()) for f in files or []], None
    if kind == SOURCE_KINDS[1]:
        by_title = {s.title: s for s in samples()}
        sample = by_title[st.selectbox("Sample", list(by_title), key="sample_title")]
        return [sample.path], sample.category
    lines = st.text_area("Paths, one per line", key="paths", placeholder="/data/report.pdf")
    return [Path(line.strip()).expanduser() for line in lines.splitlines() if line.strip()], None


def load_options(category_hint: str | None) -> LoadOptions:
    if category_hint:
        st.caption(f"Category: {category_hint}")
        category = category_hint
    else:
        category = st.text_input("Category (for files that carry none)", key="category")
    with st.expander("CSV / JSONL columns"):
        text_field = st.text_input("Text column", value="text", key="text_field")
        category_field = st.text_input("Category column (optional)", key="category_field")
        metadata = st.text_input("Metadata columns (comma separated, optional)", key="metadata_fields")
    return LoadOptions(text_field=text_field.strip() or None, category_field=category_field.strip() or None,
                       metadata_fields=tuple(f.strip() for f in metadata.split(",") if f.strip()),
                       category=category.strip() or None)


def chunk_settings() -> ChunkSettings:
    method, unit, size, overlap = st.columns(4)
    return ChunkSettings(
        method=method.selectbox("Chunker", METHODS, index=METHODS.index(DEFAULT_CHUNKING.method), key="method"),
        unit=unit.selectbox("Unit", UNITS, index=UNITS.index(DEFAULT_CHUNKING.unit), key="unit"),
        size=int(size.number_input("Size", min_value=1, max_value=100_000, value=DEFAULT_CHUNKING.size,
                                   step=10, key="size")),
        overlap=int(overlap.number_input("Overlap", min_value=0, max_value=100_000,
                                         value=DEFAULT_CHUNKING.overlap, step=10, key="overlap")))


@st.cache_data(show_spinner="Chunking the preview…", max_entries=16)
def cached_preview(source: Source, settings_key: tuple, options_key: tuple, embedder_name: str) -> ChunkPreview:
    """The preview for one file; only the keys (plain values) decide whether it is recomputed."""
    method, size, overlap, unit = settings_key
    text_field, category_field, metadata_fields, category = options_key
    options = LoadOptions(text_field, category_field, metadata_fields, category)
    document = first_document(source, options)
    return preview(document, ChunkSettings(method, size, overlap, unit), ui.cached_embedder(embedder_name))


def show_preview(result: ChunkPreview) -> None:
    over = result.over_limit
    shown, chunks, mean, over_metric = st.columns(4)
    shown.metric("Characters previewed", f"{len(result.document.text):,}")
    chunks.metric("Chunks", len(result.chunks))
    mean.metric("Mean tokens", f"{sum(result.tokens) / max(len(result.tokens), 1):.0f}")
    over_metric.metric(f"Over {result.max_tokens} tokens", len(over))
    if result.truncated:
        st.caption("The document goes on: this is its opening only; ingest cuts the whole of it.")
    if over:
        listed = ", ".join(f"#{n + 1} ({result.tokens[n]} tokens)" for n in over[:20])
        st.warning(f"{len(over)} chunk(s) are longer than the model's {result.max_tokens}-token limit and would "
                   f"be embedded without their ends: {listed}{' …' if len(over) > 20 else ''}")
    text_column, chart_column = st.columns([3, 2])
    with text_column:
        st.caption("Chunks in alternating colours; orange = text shared by two chunks (overlap).")
        ui.show_segments(chunk_segments(result.document.text, result.chunks, result.document.offset),
                         "max-height:520px;overflow-y:auto;padding:0.5rem;border:1px solid #ddd;")
    with chart_column:
        if result.tokens:
            figure = px.histogram(pd.DataFrame({"tokens": result.tokens}), x="tokens", nbins=40,
                                  title="Chunk lengths (model tokens)")
            figure.add_vline(x=result.max_tokens, line_dash="dash", line_color="red",
                             annotation_text=f"model limit {result.max_tokens}")
            st.plotly_chart(figure, width="stretch")


def ingest_section(sources: list[Source], settings: ChunkSettings, options: LoadOptions,
                   workspace: Workspace | None) -> None:
    if workspace is None:
        return
    if not ui.can_write(workspace):
        st.caption(f"'{workspace.collection.name}' is read-only on this shared app.")
        return
    if st.button(f"Ingest {len(sources)} file(s) into '{workspace.collection.name}'", type="primary",
                 disabled=not sources, key="ingest"):
        charge_uploads = ui.charge_uploads(sources)  # NotAllowed over the shared app's limits
        with ui.progress_bar("Ingesting") as progress:
            report = ingest(sources, workspace.collection, workspace.embedder, settings, options, progress)
        charge_uploads()
        st.session_state["ingest_report"] = report
        st.rerun()  # the sidebar's chunk counts follow
    report = st.session_state.get("ingest_report")
    if report is not None:
        (st.success if report.files else st.warning)(report.summary())
        for failure in report.failures:
            st.error(f"Not ingested: {failure}")


def add_documents(workspace: Workspace | None) -> None:
    sources, category_hint = chosen_sources()
    options = load_options(category_hint)
    settings = chunk_settings()
    try:
        validate(settings)
    except ExplorerError as exc:
        st.error(str(exc))
        return
    if not sources:
        st.info("Choose files to see how they would be cut.")
        return
    st.subheader("Preview")
    names = [s.name for s in sources]
    shown = st.selectbox("File to preview", range(len(sources)), format_func=names.__getitem__,
                         key="preview_file") if len(sources) > 1 else 0
    embedder_name = workspace.embedder.name if workspace else DEFAULT_EMBEDDER
    try:
        result = cached_preview(sources[shown], (settings.method, settings.size, settings.overlap, settings.unit),
                                (options.text_field, options.category_field, options.metadata_fields,
                                 options.category), embedder_name)
    except ExplorerError as exc:
        st.error(f"Cannot preview: {exc}")
    else:
        show_preview(result)
    try:
        ingest_section(sources, settings, options, workspace)
    except ExplorerError as exc:
        st.error(str(exc))


# -- collections and documents ------------------------------------------------------------

def documents_section(workspace: Workspace) -> None:
    collection = workspace.collection
    st.subheader(f"Documents in '{collection.name}'")
    sources = collection.sources()
    if not sources:
        st.info("This collection is empty: add documents above.")
        return
    st.dataframe(pd.DataFrame([{"document": s.source, "category": s.category, "chunks": s.chunks}
                               for s in sources]), hide_index=True, width="stretch")
    if not ui.can_write(workspace):
        return
    doomed = st.selectbox("Document", [s.source for s in sources], key="doomed_document")
    if st.button("Delete document", key="delete_document"):
        removed = collection.delete_source(doomed)
        st.session_state["library_notice"] = f"Deleted '{doomed}' ({removed} chunks)."
        st.rerun()


def collections_section(store: Store) -> None:
    st.subheader("Collections")
    policy = ui.policy()  # a shared app lists only the collections it is configured to show
    infos = [i for i in store.list_collections() if policy.shows(store.url, i.name)]
    if infos:
        st.dataframe(pd.DataFrame([{"collection": i.name, "embedder": i.embedder.name,
                                    "dimensions": i.embedder.dimension, "chunks": i.count} for i in infos]),
                     hide_index=True, width="stretch")
    if not policy.manage_collections:
        return
    new, remove = st.columns(2)
    with new:
        st.markdown("**New collection**")
        name = st.text_input("Name", key="new_collection", placeholder="my-notes")
        specs = available_embedders()
        usable = [s for s in specs if s.available]
        embedder = st.selectbox("Embedder", [s.name for s in usable], key="new_embedder",
                                format_func=lambda n: next(s.label for s in usable if s.name == n))
        missing = [f"{s.label} (needs {s.needs})" for s in specs if not s.available]
        if missing:
            st.caption("Not available without a key: " + "; ".join(missing) + ".")
        if st.button("Create collection", key="create_collection", disabled=not name.strip()):
            if name.strip() in {i.name for i in infos}:
                st.error(f"A collection named '{name.strip()}' exists already.")
            else:
                open_workspace(store, name.strip(), embedder, create=True)
                ui.pick_collection(name.strip())
    with remove:
        st.markdown("**Delete a collection**")
        if infos:
            doomed = st.selectbox("Collection", [i.name for i in infos], key="doomed_collection")
            sure = st.checkbox(f"Yes, delete '{doomed}' and all its chunks", key="confirm_delete")
            if st.button("Delete collection", key="delete_collection", disabled=not sure):
                store.delete_collection(doomed)
                st.session_state["library_notice"] = f"Deleted collection '{doomed}'."
                st.rerun()


add_tab, manage_tab = st.tabs(["Add documents", "Collections & documents"])
with add_tab:
    add_documents(workspace)
with manage_tab:
    if notice := st.session_state.pop("library_notice", None):
        st.success(notice)
    try:
        if workspace is not None:
            documents_section(workspace)
        if store is not None:
            collections_section(store)
    except ExplorerError as exc:
        st.error(str(exc))
