"""Collections filled under earlier chunk id schemes, and moving them to the current one.

Today a local file is known by its resolved absolute path (symlinks, "./", trailing "/" and
relative spellings all lead to one name), an upload by its name under its folder label, and a
CSV / JSONL row by its file plus its row id. Chunk ids start with "v3".

The first scheme made a chunk's id from its file's hash, the chunk settings and the
position, and a document's source was its bare file name: two files called
README.md replaced each other, and identical files under two names shared chunks.
Such a collection is still read and searched as it is. Before anything is written
to it, `migrate_old_ids` gives each of its chunks the id the current scheme gives
it (same source, text, metadata and vector: nothing is re-embedded) and puts its
vector in the embedding cache, so re-ingesting the files later, under the sources
they are now known by, embeds nothing that was embedded before.

The migration writes the new rows before deleting the old ones, a batch at a time,
so an interrupted one loses nothing and the next write finishes it. Old ids sort
before current ones ("v2-..."), and rows are read in insertion order (Chroma) or id
order (PostgreSQL), so the first row is an old one for as long as any is left.

The second scheme ("v2-..." ids) knew a file found in a folder by its path relative to that
folder, so projA/README.md and projB/README.md were both "README.md". Those chunks are moved
as their documents are ingested again (`carry_second_scheme` before, `settle_second_scheme`
after): their vectors go to the embedding cache first, so nothing is re-embedded; the chunks
under the file's former names go once the same text is held under its current one. A relative
name is only taken as the file's former name when it held the same rows and texts: a "v2"
upload that merely shares the relative path is another document, and is left alone.
"""
from __future__ import annotations

import os
import re
from pathlib import PurePath
from typing import Sequence

from .chunking import chunk_id, document_metadata
from .embedding_cache import EmbeddingCache, text_hash
from .stores.base import Collection
from .types import Chunk, Filter, Metadata, ProgressCallback, ProgressEvent, no_progress

OLD_CHUNK_ID = re.compile(r"^[0-9a-f]{16}-[0-9a-f]{8}-\d{6}$")
SECOND_SCHEME_ID = re.compile(r"^v2-[0-9a-f]{32}-\d{6}$")
# Metadata of a chunk moved from the first scheme: its source is still the bare file name the first
# release knew the document by, until the document is ingested again under its current source.
FIRST_SCHEME = "first_scheme"
MIGRATE_BATCH = 500  # rows re-written per round: a few MB of vectors


def holds_old_ids(collection: Collection) -> bool:
    first = collection.get(limit=1).ids
    return bool(first) and bool(OLD_CHUNK_ID.match(first[0]))


def current_chunk(old_id: str, text: str, metadata: Metadata) -> Chunk:
    """A chunk stored under the first scheme, under the id the current scheme gives it."""
    source = str(metadata.get("source", ""))
    index = int(metadata.get("index", 0))
    identity = chunk_id(source, str(metadata.get("document", old_id)), document_metadata(metadata),
                        str(metadata.get("chunking", "")), index)
    return Chunk(id=identity, text=text, source=source, start=int(metadata.get("start", 0)),
                 end=int(metadata.get("end", len(text))), index=index, metadata={**metadata, FIRST_SCHEME: True})


def settle_first_scheme(collection: Collection, source: str) -> int:
    """`source` was just ingested: settle the chunks the first release kept for it. Ingested under a
    current identity (a path, an upload's folder label), the same document's first-scheme chunks under its
    bare file name go, so upgrading and re-ingesting a folder does not hold every document twice; ingested
    under the bare name itself, its chunks are confirmed as current. Returns how many chunks went."""
    bare = PurePath(source).name
    if not bare:
        return 0
    namesake = collection.get(where=Filter(sources=(bare,)), include_embeddings=bare == source)
    flagged = [n for n, m in enumerate(namesake.metadatas) if (m or {}).get(FIRST_SCHEME)]
    if not flagged:
        return 0
    if bare == source:
        assert namesake.embeddings is not None
        confirmed = [Chunk(id=namesake.ids[n], text=namesake.texts[n], source=source,
                           start=int(namesake.metadatas[n].get("start", 0)),
                           end=int(namesake.metadatas[n].get("end", len(namesake.texts[n]))),
                           index=int(namesake.metadatas[n].get("index", 0)),
                           # False, not removed: Chroma merges metadata on upsert, so a dropped key stays
                           metadata={**namesake.metadatas[n], FIRST_SCHEME: False})
                     for n in flagged]
        collection.upsert(confirmed, namesake.embeddings[flagged])
        return 0
    collection.delete_ids([namesake.ids[n] for n in flagged])
    return len(flagged)


def migrate_old_ids(collection: Collection, cache: EmbeddingCache, progress: ProgressCallback = no_progress) -> int:
    """Move a collection's chunks from first-scheme ids to current ones; returns how many moved
    (0, after one cheap read, for a collection that holds none)."""
    if not holds_old_ids(collection):
        return 0
    old = [i for page in collection.iter_pages() for i in page.ids if OLD_CHUNK_ID.match(i)]
    for lo in range(0, len(old), MIGRATE_BATCH):
        rows = collection.get(ids=old[lo:lo + MIGRATE_BATCH], include_embeddings=True)
        assert rows.embeddings is not None
        cache.put(collection.embedder, [text_hash(t) for t in rows.texts], rows.embeddings)
        collection.upsert([current_chunk(i, t, m) for i, t, m in zip(rows.ids, rows.texts, rows.metadatas)],
                          rows.embeddings)
        collection.delete_ids(rows.ids)
        progress(ProgressEvent("moving chunks to ids by source", lo + len(rows.ids), len(old)))
    return len(old)


# (row id or "", text) of each chunk a second-scheme collection holds under one of a document's former names
FormerChunks = dict[str, list[tuple[str, str, str]]]  # name -> [(chunk id, row, text)]


def carry_second_scheme(collection: Collection, cache: EmbeddingCache, names: Sequence[str]) -> FormerChunks:
    """The "v2" chunks held under any of `names` (the names a document about to be ingested may have
    had), their vectors put in the embedding cache so the ingest re-embeds none of them."""
    names = tuple(dict.fromkeys(n for n in names if n))
    if not names or collection.count() == 0:
        return {}
    held = collection.get(where=Filter(sources=names))
    old = [i for i in held.ids if SECOND_SCHEME_ID.match(i)]
    if not old:
        return {}
    rows = collection.get(ids=old, include_embeddings=True)
    assert rows.embeddings is not None
    cache.put(collection.embedder, [text_hash(t) for t in rows.texts], rows.embeddings)
    former: FormerChunks = {}
    for chunk_id_, text, metadata in zip(rows.ids, rows.texts, rows.metadatas):
        former.setdefault(str(metadata.get("source", "")), []).append(
            (chunk_id_, str(metadata.get("row", "")), text))
    return former


def settle_second_scheme(collection: Collection, source: str, former: FormerChunks) -> int:
    """`source` was just ingested: remove its "v2" chunks held under former names that are surely the
    same document (another spelling of its path; a relative name holding exactly texts it holds now).
    Its chunks under `source` itself were replaced by the ingest. Returns how many chunks moved."""
    moved = len(former.get(source, []))
    current: set[tuple[str, str]] | None = None
    for name, chunks in former.items():
        if name == source:
            continue
        if not os.path.isabs(name):
            if current is None:
                now = collection.get(where=Filter(sources=(source,)))
                current = {(str(m.get("row", "")), t) for t, m in zip(now.texts, now.metadatas)}
            if not all((row, text) in current for _, row, text in chunks):
                continue  # another document that shares the relative name: left as it is
        collection.delete_ids([chunk_id_ for chunk_id_, _, _ in chunks])
        moved += len(chunks)
    return moved
