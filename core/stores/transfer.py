"""Copy a collection between stores (Chroma folder, Chroma server, PostgreSQL) without re-embedding.

Rows stream page by page: ids, texts, metadata and the stored vectors go over
as they are, so the copy searches exactly like the original and memory stays
flat whatever the collection's size. Writes are upserts, so copying again (or
after an interruption) completes the copy rather than duplicating it.
"""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ..errors import ExplorerError
from ..types import Chunk, Metadata, ProgressCallback, ProgressEvent, no_progress
from .base import PAGE_SIZE, Store, StoredChunks, operation


def stored_chunk(id: str, text: str | None, metadata: Metadata | None, collection: str = "") -> Chunk:
    """A stored row as a Chunk again; where it sits comes from the metadata the chunker wrote.

    A row another program stored may have no text or metadata: it comes over as an empty text,
    its source the collection it came from."""
    metadata = dict(metadata or {})
    metadata.setdefault("source", collection)
    text = text or ""
    return Chunk(id=id, text=text, source=str(metadata["source"]),
                 start=int(metadata.get("start", 0)), end=int(metadata.get("end", len(text))),
                 index=int(metadata.get("index", 0)), metadata=metadata)


def page_chunks(page: StoredChunks, collection: str = "") -> list[Chunk]:
    return [stored_chunk(i, t, m, collection) for i, t, m in zip(page.ids, page.texts, page.metadatas)]


def copy_collection(source: Store, destination: Store, name: str, new_name: str | None = None,
                    progress: ProgressCallback = no_progress, page_size: int = PAGE_SIZE) -> int:
    """Copy collection `name` from `source` into `destination` (as `new_name`); returns the rows copied.

    The copy remembers the model that made the original (for a collection another program made:
    the model its vectors were shown to come from, else `imported:...`), so a read-only original
    becomes a collection of ours to change. An existing destination collection made by another model
    is refused (EmbedderMismatch); one made by the same model gets the rows merged in.
    """
    target = new_name or name
    if source.url == destination.url and target == name:
        raise ExplorerError(f"'{name}' would be copied onto itself: give another store or a new name")
    embedder = source.collection_embedder(name)
    if embedder.dimension <= 0:  # holds no vector to tell its size: nothing to copy
        raise ExplorerError(f"collection '{name}' holds no vectors, so it is not copied; nothing was written")
    original = source.open_collection(name, embedder, create=False)
    copy = destination.open_collection(target, embedder, create=True)
    total = original.count()
    copied = 0
    progress(ProgressEvent("copy", 0, total, f"{name} -> {target}"))
    # Marked until every page is in: a copy killed half way is incomplete until run again.
    with operation(copy, "copy", f"'{name}' of {shown_url(source.url)}"), copy.bulk_write(total):
        for page in original.iter_pages(include_embeddings=True, page_size=page_size):
            assert page.embeddings is not None
            copy.upsert(page_chunks(page, name), page.embeddings)
            copied += len(page.ids)
            progress(ProgressEvent("copy", copied, total, f"{name} -> {target}"))
        copy.sync_keyword_index()
    return copied


def shown_url(url: str) -> str:
    """A store URL fit for a message or a mark: without a password."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
