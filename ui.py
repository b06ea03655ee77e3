"""Streamlit-side glue shared by the pages: cached heavy objects, the store and
collection chosen in the sidebar, progress bars, error boxes and safe drawing of
marked text. No business logic here: that lives in `core`."""
from __future__ import annotations

import html
from contextlib import contextmanager
from typing import Iterator, Sequence
from urllib.parse import urlsplit

import streamlit as st

from core.config import DEFAULT_EMBEDDER, SAMPLE_COLLECTION, default_store_url, get_secret
from core.embedders import Embedder, get_embedder
from core.errors import ExplorerError
from core.highlight import Segment
from core.samples import ensure_samples
from core.stores import Store, open_store
from core.stores.pgvector import with_index
from core.types import CollectionInfo, ProgressCallback, ProgressEvent
from core.workspace import Workspace, open_workspace

STORE_KINDS = ("Local folder (Chroma)", "Chroma server", "PostgreSQL + pgvector")
PG_INDEXES = {"hnsw": "HNSW (fast queries, more memory)", "ivfflat": "IVFFlat (lists ≈ √rows)",
              "exact": "none (exact scan)"}
DEFAULT_CHROMA_SERVER = "127.0.0.1:8765"
# Session keys the pages read; the sidebar writes them.
STORE_URL, COLLECTION = "store_url", "collection"
_PICK = "_collection_to_pick"  # a collection a page asked the sidebar to select on the next run
_CHOSEN = "_collection_chosen"  # the sidebar's last choice
# Background colours for marked text: alternating chunks, overlaps, query terms.
CHUNK_COLOURS = ("#dbeafe", "#dcfce7", "#fef9c3", "#fce7f3")
MARK_STYLES = {"overlap": "background:#fdba74;", "term": "background:#fde047;font-weight:600;",
               "heading": "font-weight:700;color:#334155;", "answer": "background:#bbf7d0;font-weight:600;",
               "label": "font-size:0.7em;color:#475569;background:#f1f5f9;border-radius:3px;padding:0 3px;"
                               "margin-right:2px;",
               "over-limit": "font-size:0.7em;color:#fff;background:#dc2626;border-radius:3px;padding:0 3px;"
                             "margin-right:2px;font-weight:700;"}


@st.cache_resource(show_spinner="Loading the embedding model…")
def cached_embedder(name: str) -> Embedder:
    return get_embedder(name)


@st.cache_resource(show_spinner="Opening the store…")
def cached_store(url: str) -> Store:
    return open_store(url)


def current_workspace() -> Workspace | None:
    """The store + collection picked in the sidebar, or None (with a message shown) when unusable."""
    url = st.session_state.get(STORE_URL)
    name = st.session_state.get(COLLECTION)
    if not url or not name:
        st.info("Pick or create a collection on the Library page first.")
        return None
    try:
        # get_embedder keeps one instance per model, so this reopens nothing heavy.
        return open_workspace(cached_store(url), name)
    except ExplorerError as exc:
        st.error(str(exc))
        return None


def current_store() -> Store | None:
    """The store picked in the sidebar, or None when it cannot be opened (the sidebar says why)."""
    url = st.session_state.get(STORE_URL)
    if not url:
        return None
    try:
        return cached_store(url)
    except ExplorerError:
        return None


def collection_version(workspace: Workspace) -> tuple[str, str, str]:
    """Store, collection and its version: a cache key that changes on every write to the collection
    (never the chunk count: an edit that keeps the count must not serve the old text)."""
    return (workspace.store.url, workspace.collection.name, workspace.collection.version())


@st.cache_data(show_spinner=False, max_entries=64)
def _facets(version: tuple[str, str, str], _workspace: Workspace) -> tuple[list[str], list[str]]:
    documents = _workspace.collection.sources()  # one read of the metadata serves both pickers
    return sorted({d.category for d in documents if d.category}), list(dict.fromkeys(d.source for d in documents))


def facets(workspace: Workspace) -> tuple[list[str], list[str]]:
    """The collection's categories and document names, for filter pickers (cached per version)."""
    return _facets(collection_version(workspace), workspace)


def pick_collection(name: str) -> None:
    """Make `name` the selected collection (the sidebar's select box follows on the rerun)."""
    st.session_state[_PICK] = name
    st.rerun()


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressCallback]:
    """A Streamlit progress bar fed by core progress events."""
    bar = st.progress(0.0, text=label)

    def show(event: ProgressEvent) -> None:
        fraction = min(event.done / event.total, 1.0) if event.total else 0.0
        bar.progress(fraction, text=f"{label}: {event.stage} {event.detail}"[:120])

    try:
        yield show
    finally:
        bar.empty()


def masked_url(url: str) -> str:
    """A store URL safe to show: any password replaced by ***."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def segments_html(segments: Sequence[Segment], block_style: str = "") -> str:
    """Marked text as HTML in which only our <span>s are markup: every piece of text is
    escaped, so a document holding <script> or Markdown shows those characters, nothing runs."""
    pieces = []
    for segment in segments:
        text = html.escape(segment.text)
        if segment.mark.startswith("chunk-"):
            colour = CHUNK_COLOURS[int(segment.mark.removeprefix("chunk-")) % len(CHUNK_COLOURS)]
            pieces.append(f'<span class="chunk" style="background:{colour};">{text}</span>')
        elif segment.mark in MARK_STYLES:
            pieces.append(f'<span class="{segment.mark}" style="{MARK_STYLES[segment.mark]}">{text}</span>')
        else:
            pieces.append(text)
    return (f'<div style="white-space:pre-wrap;font-family:sans-serif;line-height:1.5;{block_style}">'
            f'{"".join(pieces)}</div>')


def show_segments(segments: Sequence[Segment], block_style: str = "") -> None:
    st.html(segments_html(segments, block_style))


# -- the sidebar -----------------------------------------------------------------------

def _store_url_input() -> str:
    kind = st.radio("Store", STORE_KINDS, key="store_kind")
    if kind == STORE_KINDS[1]:
        address = st.text_input("Chroma server (host:port)", value=DEFAULT_CHROMA_SERVER, key="chroma_address")
        return f"chroma://{address.strip().removeprefix('chroma://')}"
    if kind == STORE_KINDS[2]:
        prefilled = get_secret("DATABASE_URL") or "postgresql://localhost:5432/explorer"
        secret = bool(urlsplit(prefilled).password)
        url = st.text_input("PostgreSQL URL", value=prefilled, key="pg_url",
                            type="password" if secret else "default",
                            help="postgresql://user:password@host:port/database")
        if urlsplit(url).password:
            st.caption(f"Connecting to {masked_url(url)}")
        index = st.selectbox("Vector index for new collections", PG_INDEXES, key="pg_index",
                             format_func=PG_INDEXES.get,
                             help="A collection keeps the index it was made with. ?index=... in the URL wins.")
        return with_index(url.strip(), index)
    return st.text_input("Folder", value=default_store_url(), key="store_folder").strip()


def _collection_label(infos: dict[str, CollectionInfo]):
    def label(name: str) -> str:
        info = infos[name]
        return f"{name} · {info.embedder.name} · {info.count:,} chunks"
    return label


def _ingest_samples(store: Store) -> None:
    st.info("This store is empty: adding the built-in samples (two novels and a spec), once.")
    with progress_bar("Ingesting the samples") as progress:
        report = ensure_samples(store, cached_embedder(DEFAULT_EMBEDDER), progress)
    st.success(report.summary())


def _providers() -> None:
    for label, key in (("OpenAI key", "OPENAI_API_KEY"), ("Anthropic key", "ANTHROPIC_API_KEY")):
        st.markdown(f"{label}: **{'set' if get_secret(key) else 'not set'}**")
    st.caption("Everything works offline without keys (MiniLM embeddings, extractive answers); "
               "keys add OpenAI embedders and LLM answers.")


def sidebar() -> None:
    """Store, collection and provider status; writes STORE_URL and COLLECTION to the session."""
    with st.sidebar:
        st.header("Data")
        url = _store_url_input()
        st.session_state[STORE_URL] = url
        st.session_state[COLLECTION] = None
        try:
            store = cached_store(url)
            infos = {info.name: info for info in store.list_collections()}
            if not infos:
                _ingest_samples(store)
                infos = {info.name: info for info in store.list_collections()}
        except ExplorerError as exc:
            st.error(str(exc))
            infos = {}
        if infos:
            names = sorted(infos)
            # The choice lives in a plain session key, not the widget's: a page can set it
            # (pick_collection), and it survives runs where the sidebar is not re-sent.
            wanted = st.session_state.pop(_PICK, None) or st.session_state.get(_CHOSEN)
            if wanted not in infos:
                wanted = SAMPLE_COLLECTION if SAMPLE_COLLECTION in infos else names[0]
            chosen = st.selectbox("Collection", names, index=names.index(wanted),
                                  format_func=_collection_label(infos))
            st.session_state[_CHOSEN] = st.session_state[COLLECTION] = chosen
        st.divider()
        st.subheader("Providers")
        _providers()
