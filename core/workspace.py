"""Open a store, a collection and the embedder that belongs to it, in one step.

The CLI and the app both start here, so "which model does this collection
need" is decided once: an existing collection uses the model that made it,
and asking for another one is refused with a message saying so.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from .config import DEFAULT_EMBEDDER
from .embedders import Embedder, EmbedderCheck, compare_with_stored, get_embedder, known_embedder
from .errors import (CollectionDamaged, CollectionNotFound, EmbedderMismatch, EmbedderUnavailable, ExplorerError,
                     StoreDamaged, describe)
from .stores import Collection, Store, open_store
from .types import EmbedderInfo


class StoredVectorsOnly:
    """The 'embedder' of a collection whose vectors came from elsewhere, by a model this app cannot run.

    Everything that works from the stored vectors (maps, clusters, near-duplicates, keyword search)
    works; embedding a new text says plainly why it cannot.
    """

    max_tokens = 10**9

    def __init__(self, info: EmbedderInfo, reason: str | None = None):
        self.name, self.dimension = info.name, info.dimension
        self.reason = reason or (f"this collection's vectors came from elsewhere (model: "
                                 f"{info.name.partition(':')[2] or 'unknown'}) and this app cannot run that model")

    @property
    def info(self) -> EmbedderInfo:
        return EmbedderInfo(self.name, self.dimension)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise EmbedderUnavailable(
            f"{self.reason}: vector and hybrid search need a query embedding, "
            "so use keyword search, or the map and near-duplicates, which work from the stored vectors")

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]


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
    if made_with is not None and not known_embedder(made_with.name):
        model: Embedder = StoredVectorsOnly(made_with)
    else:
        model = get_embedder(made_with.name if made_with else (embedder or DEFAULT_EMBEDDER))
    opened = store.open_collection(collection, model.info, create=create)
    readable(opened)
    return Workspace(store=store, collection=opened, embedder=model, created=made_with is None)


def check_query_embedder(collection: Collection, embedder: Embedder, sample: int = 16) -> EmbedderCheck:
    """Re-embed a sample of the stored texts and compare with the stored vectors."""
    if embedder.dimension != collection.embedder.dimension:
        return EmbedderCheck(embedder.name, False, None,
                             f"{embedder.name} makes {embedder.dimension}-dimensional vectors; this collection "
                             f"holds {collection.embedder.dimension}-dimensional ones")
    rows = collection.get(include_embeddings=True, limit=sample * 4)
    return compare_with_stored(embedder, rows.texts, rows.embeddings, sample)


def with_query_embedder(workspace: Workspace, name: str) -> Workspace:
    """The workspace with `name` embedding its queries, once it is shown to reproduce the stored vectors."""
    check = check_query_embedder(workspace.collection, get_embedder(name))
    if not check.matches:
        raise EmbedderMismatch(check.reason)
    return Workspace(workspace.store, workspace.collection, get_embedder(name))


def readable(collection: Collection) -> None:
    """Raise CollectionDamaged, saying what failed and how to fix it, when the collection cannot be read:
    a damaged index otherwise fails later, in the middle of a search, in the store's own words. One
    stored vector is looked up by itself, which loads the vector index (a count alone reads SQLite)."""
    try:
        collection.count()
        probe = collection.get(limit=1, include_embeddings=True)
        if probe.ids and probe.embeddings is not None:
            collection.vector_search(probe.embeddings[0], 1)
    except ExplorerError as exc:
        if not isinstance(exc, StoreDamaged):
            raise
        raise _damaged(collection, exc) from exc
    except Exception as exc:
        raise _damaged(collection, exc) from exc


def _damaged(collection: Collection, exc: BaseException) -> CollectionDamaged:
    return CollectionDamaged(
        f"collection '{collection.name}' cannot be read ({describe(exc)}); `python -m core check --collection "
        f"{collection.name}` says what is wrong and `python -m core repair --collection {collection.name}` "
        "rebuilds it (each with the same --store)")


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
