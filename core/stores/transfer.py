"""Copy a collection between stores (Chroma folder, Chroma server, PostgreSQL) without re-embedding.

Rows stream page by page: ids, texts, metadata and the stored vectors go over
as they are, so the copy searches exactly like the original and memory stays
flat whatever the collection's size. Writes are upserts, so copying again (or
after an interruption) completes the copy rather than duplicating it.
"""
from __future__ import annotations

from ..errors import ExplorerError
from ..types import Chunk, Metadata, ProgressCallback, ProgressEvent, no_progress
from .base import PAGE_SIZE, Store, StoredChunks


def stored_chunk(id: str, text: str, metadata: Metadata) -> Chunk:
    """A stored row as a Chunk again; where it sits comes from the metadata the chunker wrote."""
    return Chunk(id=id, text=text, source=str(metadata.get("source", "")),
                 start=int(metadata.get("start", 0)), end=int(metadata.get("end", len(text))),
                 index=int(metadata.get("index", 0)), metadata=metadata)


def page_chunks(page: StoredChunks) -> list[Chunk]:
    return [stored_chunk(i, t, m) for i, t, m in zip(page.ids, page.texts, page.metadatas)]


def copy_collection(source: Store, destination: Store, name: str, new_name: str | None = None,
                    progress: ProgressCallback = no_progress, page_size: int = PAGE_SIZE) -> int:
    """Copy collection `name` from `source` into `destination` (as `new_name`); returns the rows copied.

    The copy remembers the model that made the original. An existing destination
    collection made by another model is refused (EmbedderMismatch); one made by
    the same model gets the rows merged in.
    """
    target = new_name or name
    if source.url == destination.url and target == name:
        raise ExplorerError(f"'{name}' would be copied onto itself: give another store or a new name")
    embedder = source.collection_embedder(name)
    if embedder.dimension <= 0:  # made by other code: no model on record, nothing to search it with
        raise ExplorerError(f"collection '{name}' was not made by this tool (it records no embedding model and "
                            "dimension), so it is not copied; nothing was written")
    original = source.open_collection(name, embedder, create=False)
    copy = destination.open_collection(target, embedder, create=True)
    total = original.count()
    copied = 0
    progress(ProgressEvent("copy", 0, total, f"{name} -> {target}"))
    with copy.bulk_write(total):
        for page in original.iter_pages(include_embeddings=True, page_size=page_size):
            assert page.embeddings is not None
            copy.upsert(page_chunks(page), page.embeddings)
            copied += len(page.ids)
            progress(ProgressEvent("copy", copied, total, f"{name} -> {target}"))
    copy.sync_keyword_index()
    return copied
