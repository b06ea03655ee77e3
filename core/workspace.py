"""Open a store, a collection and the embedder that belongs to it, in one step.

The CLI and the app both start here, so "which model does this collection
need" is decided once: an existing collection uses the model that made it,
and asking for another one is refused with a message saying so.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import DEFAULT_EMBEDDER
from .embedders import Embedder, get_embedder
from .errors import CollectionNotFound, EmbedderMismatch
from .stores import Collection, Store, open_store


@dataclass
class Workspace:
    store: Store
    collection: Collection
    embedder: Embedder
    created: bool = False  # the collection was made by this call (`create` and it was missing)


def open_workspace(store: Store | str, collection: str, embedder: str | None = None,
                   create: bool = False) -> Workspace:
    """Open `collection`; with `create`, make it (with `embedder` or the default) if missing."""
    if isinstance(store, str):
        store = open_store(store)
    try:
        made_with = store.collection_embedder(collection)
    except CollectionNotFound:
        if not create:
            raise
        made_with = None
    if made_with is not None and embedder is not None and embedder != made_with.name:
        raise EmbedderMismatch(
            f"collection '{collection}' was made with {made_with.name}, not {embedder}; "
            f"use --embedder {made_with.name}, or ingest into a new collection")
    model = get_embedder(made_with.name if made_with else (embedder or DEFAULT_EMBEDDER))
    return Workspace(store=store, collection=store.open_collection(collection, model.info, create=create),
                     embedder=model, created=made_with is None)
