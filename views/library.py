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
from core.highlight import numbered_chunk_segments
from core.loaders import SUPPORTED_EXTENSIONS
from core.documents import DocumentInfo, DocumentKey, delete_document
from core.markup import markdown_text
from core.pipeline import (IngestReport, LoadOptions, LocalFile, Source, Upload, distinct_sources, ingest,
                           local_files)
from core.samples import samples
from core.stores import Store
from core.types import ChunkSettings, ProgressCallback
from core.vectorfiles import FORMATS, Fields, import_vector_bytes
from core.workspace import Workspace, open_workspace

MAX_UPLOAD_MB = 200  # .streamlit/config.toml server.maxUploadSize
SOURCE_KINDS = ("Upload files", "Built-in sample", "Files on this machine (paths)")
NEW_COLLECTION = "A new collection…"
INGEST_JOB = "ingest"  # runs on its own thread: leaving the page does not cancel it
LIBRARY_TAB = "library_tab"
# Upload(name, data, folder=None) keeps two uploads of the same name apart by a folder label; only
# offered where core.pipeline knows it.
UPLOAD_FOLDERS = "folder" in getattr(Upload, "__dataclass_fields__", {})

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
        if UPLOAD_FOLDERS:
            folder = st.text_input("Folder label (optional)", key="upload_folder", placeholder="reports/2024",
                                   help="Names the place these files come from, so two uploads with the same "
                                        "file name from different places stay two documents.").strip()
            return [Upload(f.name, f.getvalue(), folder=folder or None) for f in files or []], None
        return [Upload(f.name, f.getvalue()) for f in files or []], None
    if kind == SOURCE_KINDS[1]:
        by_title = {s.title: s for s in samples()}
        sample = by_title[st.selectbox("Sample", list(by_title), key="sample_title")]
        return [sample.path], sample.category
    lines = st.text_area("Paths, one per line (files or folders)", key="paths", placeholder="/data/reports")
    paths = [Path(line.strip()).expanduser() for line in lines.splitlines() if line.strip()]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        st.error(f"Not found, so left out: {', '.join(missing)}")
    try:
        return list(local_files([p for p in paths if p.exists()])), None
    except ExplorerError as exc:  # a folder without a supported file
        st.error(str(exc))
        return [], None


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
        st.caption(f"Chunks in alternating colours, each numbered where it starts; orange = text shared by two "
                   f"chunks (overlap); a red number marks a chunk over the {result.max_tokens}-token limit.")
        ui.show_segments(numbered_chunk_segments(result.document.text, result.chunks, result.document.offset,
                                                 set(over), result.tokens),
                         "max-height:520px;overflow-y:auto;padding:0.5rem;border:1px solid #ddd;")
    with chart_column:
        if result.tokens:
            figure = px.histogram(pd.DataFrame({"tokens": result.tokens}), x="tokens", nbins=40,
                                  title="Chunk lengths (model tokens)")
            figure.add_vline(x=result.max_tokens, line_dash="dash", line_color="red",
                             annotation_text=f"model limit {result.max_tokens}")
            st.plotly_chart(figure, width="stretch")


def target_workspace(store: Store, workspace: Workspace | None) -> tuple[str, str | None]:
    """Where to ingest: the current collection or a new one (name, embedder), chosen beside the button."""
    if st.session_state.pop("_ingested_into_new", False):  # done: the new collection is now the current one
        for key in ("ingest_into", "ingest_new_name"):
            st.session_state.pop(key, None)
    # A shared app writes only into collections configured writable, and makes none.
    options = ([workspace.collection.name] if workspace and ui.can_write(workspace) else []) + \
        ([NEW_COLLECTION] if ui.can_manage(store) else [])
    if not options:
        st.caption(ui.read_only_reason(workspace.collection.name, workspace.collection.read_only) if workspace
                   else "There is no collection here to ingest into.")
        return "", None
    into_column, name_column, model_column = st.columns([2, 2, 2])
    into = into_column.selectbox("Ingest into", options, key="ingest_into")
    if into != NEW_COLLECTION:
        return into, None
    name = name_column.text_input("New collection name", key="ingest_new_name", placeholder="my-notes").strip()
    usable = [s for s in available_embedders() if s.available]
    model = model_column.selectbox("Embedder", [s.name for s in usable], key="ingest_new_embedder",
                                   format_func=lambda n: next(s.label for s in usable if s.name == n))
    return name, model


def ingest_section(sources: list[Source], settings: ChunkSettings, options: LoadOptions,
                   workspace: Workspace | None) -> None:
    if store is None:
        return
    try:
        distinct_sources(sources)  # two uploads that would be one document: refused before anything is made
    except ExplorerError as exc:
        st.error(str(exc))
        return
    name, new_model = target_workspace(store, workspace)
    if not name and new_model is None:
        return
    taken = new_model is not None and name in {i.name for i in store.list_collections()}
    if taken:
        st.error(f"A collection named '{name}' exists already: pick it above the button, or another name.")
    prune = False
    if any(isinstance(s, LocalFile) and s.folder for s in sources):
        prune = st.checkbox("Remove the documents of files no longer in these folders (deleted or renamed)",
                            key="prune", help="Unticked, such files are only reported, and stay searchable.")
    label = f"Ingest {len(sources)} file(s) into {'new collection ' if new_model else ''}'{name or '…'}'"
    running = ui.background_job(INGEST_JOB) is not None
    if st.button(label, type="primary", disabled=not sources or not name or taken or running, key="ingest"):
        ui.charge_uploads(sources)()  # NotAllowed over the shared app's limits; counted as the work starts
        target = open_workspace(store, name, new_model, create=True) if new_model else workspace

        def task(progress: ProgressCallback) -> tuple[IngestReport, str | None]:
            report = ingest(sources, target.collection, target.embedder, settings, options, progress, prune=prune)
            if new_model and not report.files:  # nothing went in: leave no empty collection behind
                store.delete_collection(name)
            return report, name if new_model and report.files else None

        ui.run_in_background(INGEST_JOB, f"Ingesting {len(sources)} file(s) into '{name}'", task)


def ingest_outcome() -> None:
    """The ingest's bar while it runs (also after leaving the page and coming back, the uploader empty again),
    then its report; a new collection it filled becomes the current one."""
    if job := ui.finished_job(INGEST_JOB):
        if job.error:
            st.error(job.error)
        else:
            st.session_state["ingest_report"], new_collection = job.result
            if new_collection:
                st.session_state["_ingested_into_new"] = True
                ui.pick_collection(new_collection)  # reruns with the new collection selected
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
        ingest_outcome()
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
    ingest_outcome()


# -- collections and documents ------------------------------------------------------------

def deletable(documents: list[DocumentInfo]) -> dict[DocumentKey, tuple[int, int]]:
    """What can be deleted, each with the documents and chunks it holds: every document, and every
    CSV / JSONL file as a whole (just before its rows)."""
    choices: dict[DocumentKey, tuple[int, int]] = {}
    for document in documents:
        if document.key.row:
            whole = DocumentKey(document.key.source)
            held, chunks = choices.get(whole, (0, 0))
            choices[whole] = (held + 1, chunks + document.chunks)
        choices[document.key] = (1, document.chunks)
    return choices


def documents_section(workspace: Workspace) -> None:
    collection = workspace.collection
    st.subheader(f"Documents in '{markdown_text(collection.name)}'")
    documents = ui.documents(workspace)
    if not documents:
        st.info("This collection is empty" + (": add documents above." if ui.can_write(workspace) else "."))
        return
    name = ui.document_names(workspace)  # file › row id; files relative to the folder they share
    st.dataframe(pd.DataFrame([{"document": name(d.key), "category": d.category, "chunks": d.chunks}
                               for d in documents]), hide_index=True, width="stretch")
    if not ui.can_write(workspace):  # the Add documents tab says why
        return
    choices = deletable(documents)
    doomed = st.selectbox("Document", list(choices), key="doomed_document", format_func=lambda k: (
        f"{name(k)} (the whole file: {choices[k][0]} documents)" if choices[k][0] > 1 else name(k)))
    held, chunks = choices[doomed]
    sure = held == 1 or st.checkbox(f"Yes, delete all {held:,} documents ({chunks:,} chunks) of '{name(doomed)}'",
                                    key="confirm_delete_document")
    if st.button("Delete document" if held == 1 else f"Delete {held:,} documents", key="delete_document",
                 disabled=not sure):
        removed = delete_document(collection, doomed)
        st.session_state["library_notice"] = f"Deleted '{name(doomed)}' ({removed} chunks)."
        st.rerun()


def collections_section(store: Store) -> None:
    st.subheader("Collections")
    policy = ui.policy()  # a shared app lists only the collections it is configured to show
    infos = [i for i in store.list_collections() if policy.shows(store.url, i.name)]
    if infos:
        st.dataframe(pd.DataFrame([{"collection": i.name, "embedder": i.embedder.name,
                                    "dimensions": i.embedder.dimension, "chunks": i.count} for i in infos]),
                     hide_index=True, width="stretch")
    if not ui.can_manage(store):
        if store.read_only:
            st.caption(ui.FOREIGN_STORE)
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
            names = [i.name for i in infos]
            current = workspace.collection.name if workspace else None
            if current in names and st.session_state.get("_doomed_default") != current:
                # The picker starts on the current collection, and moves with it when it changes.
                st.session_state["doomed_collection"] = st.session_state["_doomed_default"] = current
            doomed = st.selectbox("Collection", names, key="doomed_collection")
            sure = st.checkbox(f"Yes, delete '{doomed}' and all its chunks", key="confirm_delete")
            if st.button("Delete collection", key="delete_collection", disabled=not sure):
                store.delete_collection(doomed)
                st.session_state["library_notice"] = f"Deleted collection '{doomed}'."
                st.rerun()


IMPORT_JOB = "import"  # runs on its own thread: leaving the page does not cancel it


def import_section(store: Store) -> None:
    """Vectors made elsewhere (a notebook's Parquet, .npy + metadata, TensorFlow Projector TSV) as a collection."""
    st.subheader("Import vectors made elsewhere")
    vectors = st.file_uploader("Vector file", type=[e.lstrip(".") for e in FORMATS], key="import_file",
                               max_upload_size=ui.upload_limit_mb())
    metadata = st.file_uploader("Metadata (for .npy: CSV/JSONL, one row per vector; for Projector: metadata.tsv)",
                                type=["csv", "jsonl", "tsv"], key="import_metadata",
                                max_upload_size=ui.upload_limit_mb())
    name_col, model_col = st.columns(2)
    name = name_col.text_input("Into collection", key="import_collection", placeholder="my-vectors").strip()
    model = model_col.text_input("Model that made them (optional)", key="import_model",
                                 help="Name one of this app's models (e.g. minilm) to search by text; anything "
                                      "else is recorded as the vectors' origin").strip()
    columns = st.columns(4)
    fields = Fields(*(c.text_input(label, key=f"import_{key}").strip() or None for c, (label, key) in zip(
        columns, [("Vector column", "vector"), ("Text column", "text"), ("Id column", "id"),
                  ("Category column", "category")])))
    running = ui.background_job(IMPORT_JOB) is not None
    if st.button("Import", key="import_vectors", disabled=vectors is None or not name or running):
        data, meta = vectors.getvalue(), (metadata.name, metadata.getvalue()) if metadata else None
        ui.run_in_background(IMPORT_JOB, f"Importing {vectors.name} into '{name}'", lambda progress: import_vector_bytes(
            vectors.name, data, store, name, fields, meta, model or None, progress))
    if job := ui.finished_job(IMPORT_JOB):  # the bar, also after leaving the page and coming back
        if job.error:
            st.error(job.error)
        else:
            st.session_state["library_notice"] = job.result.summary()
            ui.pick_collection(job.result.collection)


# Keyed, so the tab the visitor is on is the server's to keep: the rerun after an ingest or an import (which opens
# the collection it filled) stays on it, and so does coming back from another page.
ui.remembered(LIBRARY_TAB)
add_tab, manage_tab = st.tabs(["Add documents", "Collections & documents"], key=LIBRARY_TAB, on_change="rerun")
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
            if ui.can_manage(store):
                import_section(store)
    except ExplorerError as exc:
        st.error(str(exc))
