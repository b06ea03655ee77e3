"""Streamlit-side glue shared by the pages: cached heavy objects, the current
workspace chosen in the sidebar, progress bars and error boxes. No business
logic here: that lives in `core`."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import streamlit as st

from core.embedders import Embedder, get_embedder
from core.errors import ExplorerError
from core.stores import Store, open_store
from core.types import ProgressCallback, ProgressEvent
from core.workspace import Workspace, open_workspace


@st.cache_resource(show_spinner="Loading the embedding model…")
def cached_embedder(name: str) -> Embedder:
    return get_embedder(name)


@st.cache_resource(show_spinner="Opening the store…")
def cached_store(url: str) -> Store:
    return open_store(url)


def current_workspace() -> Workspace | None:
    """The store + collection picked in the sidebar, or None (with a message shown) when unusable."""
    url = st.session_state.get("store_url")
    name = st.session_state.get("collection")
    if not url or not name:
        st.info("Pick or create a collection on the Library page first.")
        return None
    try:
        # get_embedder keeps one instance per model, so this reopens nothing heavy.
        return open_workspace(cached_store(url), name)
    except ExplorerError as exc:
        st.error(str(exc))
        return None


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
