"""Open a store, a collection and the embedder that belongs to it, in one step.

The CLI and the app both start here, so "which model does this collection
need" is decided once: an existing collection uses the model that made it,
and asking for another one is refused with a message saying so.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .config import DEFAULT_EMBEDDER
from .embedders import Embedder, get_embedder
from .errors import CollectionDamaged, CollectionNotFound, EmbedderMismatch, ExplorerError, describe
from .stores import Collection, Store, open_store


@dataclass
class Workspace:
    store: Store
    collection: Collection
    embedder: Embedder


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
    opened = store.open_collection(collection, model.info, create=create)
    readable(opened)
    return Workspace(store=store, collection=opened, embedder=model)


def readable(collection: Collection) -> None:
    """Raise CollectionDamaged, saying what failed and how to fix it, when the collection cannot be read:
    a damaged index otherwise fails later, in the middle of a search, in the store's own words."""
    try:
        collection.count()
    except ExplorerError:
        raise
    except Exception as exc:
        raise CollectionDamaged(
            f"collection '{collection.name}' cannot be read ({describe(exc)}); `python -m core check --collection "
            f"{collection.name}` says what is wrong and `python -m core repair --collection {collection.name}` "
            "rebuilds it (each with the same --store)") from exc


@contextmanager
def no_empty_leftovers(store: Store) -> Iterator[None]:
    """Collections the block creates and leaves empty are deleted when it fails (or is interrupted), so a
    failed copy, eval or sweep leaves nothing behind; a partly filled one stays, for a rerun to complete."""
    before = {info.name for info in store.list_collections()}
    try:
        yield
    except BaseException:
        for info in store.list_collections():
            if info.name not in before and info.count == 0:
                store.delete_collection(info.name)
        raise
