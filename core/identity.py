"""Collections filled under earlier chunk id schemes, and moving them to the current one.

Today a local file is known by its resolved absolute path (symlinks, "./", trailing "/" and
relative spellings all lead to one name), an upload by its name under its folder label, and a
CSV / JSONL row by its file plus its row id. Chunk ids start with "v3".

The first scheme made a chunk's id from its file's hash, the chunk settings and the
position, and a document's source was its bare file name: two files called
README.md replaced each other, and identical files under two names shared chunks.
The second scheme ("v2-..." ids) knew a file found in a folder by its path relative to that
folder, so projA/README.md and projB/README.md were both "README.md", and a file given alone by
its absolute path as spelled (symlinks unresolved).

Such a collection is read and searched as it is. Before anything is written to it (an ingest of
any files, an upload, a delete, an import, a repair), `move_to_current_scheme` gives each of its
chunks the id the current scheme gives it (same text, metadata and vector: nothing is re-embedded)
and puts its vector in the embedding cache, so re-ingesting the files later, under the sources they
are now known by, embeds nothing that was embedded before. An absolute path moves to its resolved
form. A name without a folder (a bare first-scheme name; a second-scheme relative path, which
cannot be told from an upload's name) cannot be resolved: the folder it was found in was never
recorded. Its document is kept under that name, flagged, and said so; ingesting the folder again
moves it to the file's full path (`settle_first_scheme`, `carry_second_scheme` then
`settle_second_scheme`), its vectors reused.

The move writes the new rows before deleting the old ones, a batch at a time, under an operation
mark: an interrupted one loses nothing, `check` calls the collection incomplete meanwhile, and the
next write finishes it. Old ids sort before current ones, and rows are read in insertion order
(Chroma) or id order (PostgreSQL), so the first row is an old one for as long as any is left: the
ids themselves record that the move is done, and one read of one row says so.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Sequence

from .chunking import chunk_id, document_metadata
from .embedding_cache import EmbeddingCache, text_hash
from .stores.base import Collection, operation
from .types import Chunk, Filter, Metadata, ProgressCallback, ProgressEvent, no_progress

log = logging.getLogger(__name__)

OLD_CHUNK_ID = re.compile(r"^[0-9a-f]{16}-[0-9a-f]{8}-\d{6}$")
SECOND_SCHEME_ID = re.compile(r"^v2-[0-9a-f]{32}-\d{6}$")
# Metadata of a chunk moved from the first scheme: its source is still the bare file name the first
# release knew the document by, until the document is ingested again under its current source.
FIRST_SCHEME = "first_scheme"
# Metadata of a chunk moved from the second scheme under a name without a folder (a path relative to a
# folder that was never recorded, or an upload's name: the two cannot be told apart).
RELATIVE_NAME = "relative_name"
MIGRATE_BATCH = 500  # rows re-written per round: a few MB of vectors
MOVE = "move"        # the operation mark of a move under way


def _old(chunk_id_: str) -> bool:
    return bool(OLD_CHUNK_ID.match(chunk_id_) or SECOND_SCHEME_ID.match(chunk_id_))


def current_chunk(old_id: str, text: str, metadata: Metadata) -> Chunk:
    """A chunk stored under an earlier scheme, under the id the current scheme gives it: an absolute
    path resolved, a name without a folder kept and flagged (`FIRST_SCHEME`, `RELATIVE_NAME`)."""
    source = str(metadata.get("source", ""))
    flag = FIRST_SCHEME if OLD_CHUNK_ID.match(old_id) else RELATIVE_NAME
    if os.path.isabs(source):
        source, flag = os.path.realpath(source), None
    index = int(metadata.get("index", 0))
    identity = chunk_id(source, str(metadata.get("document", old_id)), document_metadata(metadata),
                        str(metadata.get("chunking", "")), index)
    return Chunk(id=identity, text=text, source=source, start=int(metadata.get("start", 0)),
                 end=int(metadata.get("end", len(text))), index=index,
                 metadata={**metadata, "source": source, **({flag: True} if flag else {})})


@dataclass
class Moved:
    """What `move_to_current_scheme` did."""

    chunks: int = 0
    renamed: dict[str, str] = field(default_factory=dict)  # absolute path as stored -> resolved
    kept: list[str] = field(default_factory=list)           # names without a folder, documents kept under them

    def describe(self) -> str:
        if not self.chunks:
            return ""
        return "; ".join(filter(None, (f"{self.chunks} chunks moved to ids by source first (nothing re-embedded)",
                                       self.kept_note())))

    def kept_note(self) -> str:
        if not self.kept:
            return ""
        shown = ", ".join(self.kept[:5]) + (f" and {len(self.kept) - 5} more" if len(self.kept) > 5 else "")
        return (f"{len(self.kept)} document(s) an older version knew by a name without its folder, kept under "
                f"that name (ingest their folder again to move them to their full paths): {shown}")


def move_to_current_scheme(collection: Collection, cache: EmbeddingCache | None = None,
                           progress: ProgressCallback = no_progress) -> Moved:
    """Before a collection's first write: move its chunks from earlier schemes' ids to current ones (see
    the module). One read of one row for a collection that holds none; someone else's data is never moved."""
    pending = collection.pending()
    interrupted = pending is not None and pending.what == MOVE and not pending.alive()
    if collection.read_only or not (interrupted or _old(next(iter(collection.get(limit=1).ids), ""))):
        return Moved()
    cache = cache or EmbeddingCache.default()
    moved = Moved()
    kept: set[str] = set()
    with operation(collection, MOVE, "of chunks to ids by source"):
        old = [i for page in collection.iter_pages() for i in page.ids if _old(i)]
        for lo in range(0, len(old), MIGRATE_BATCH):
            rows = collection.get(ids=old[lo:lo + MIGRATE_BATCH], include_embeddings=True)
            assert rows.embeddings is not None
            cache.put(collection.embedder, [text_hash(t) for t in rows.texts], rows.embeddings)
            current = {}  # id -> (chunk, row): two spellings of one path held twice become one
            for n, (old_id, text, metadata) in enumerate(zip(rows.ids, rows.texts, rows.metadatas)):
                chunk = current_chunk(old_id, text, metadata or {})
                current[chunk.id] = (chunk, n)
                before = str((metadata or {}).get("source", ""))
                if before != chunk.source:
                    moved.renamed[before] = chunk.source
                elif not os.path.isabs(before):
                    kept.add(before)
            collection.upsert([c for c, _ in current.values()], rows.embeddings[[n for _, n in current.values()]])
            collection.delete_ids(rows.ids)
            moved.chunks += len(rows.ids)
            progress(ProgressEvent("moving chunks to ids by source", lo + len(rows.ids), len(old)))
        collection.sync_keyword_index()
    moved.kept = sorted(kept)
    if moved.kept:
        log.warning("collection '%s': %s", collection.name, moved.describe())
    return moved


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


# (row id or "", text) of each chunk held under a name without a folder that a document may have had
FormerChunks = dict[str, list[tuple[str, str, str]]]  # name -> [(chunk id, row, text)]


def carry_second_scheme(collection: Collection, cache: EmbeddingCache, names: Sequence[str]) -> FormerChunks:
    """The chunks moved from the second scheme under any of `names` (paths relative to a folder, which a
    file about to be ingested from that folder may have been known by), their vectors put in the
    embedding cache so the ingest re-embeds none of them."""
    names = tuple(dict.fromkeys(n for n in names if n))
    if not names or collection.count() == 0:
        return {}
    held = collection.get(where=Filter(sources=names))
    old = [i for i, m in zip(held.ids, held.metadatas) if (m or {}).get(RELATIVE_NAME)]
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
    """`source` was just ingested: remove its chunks held under former relative names that are surely
    the same document (the name holds exactly texts it holds now; an upload that merely shares the
    relative path is another document, and is left alone). Returns how many chunks moved."""
    moved = 0
    now = collection.get(where=Filter(sources=(source,))) if former else None
    current = {(str(m.get("row", "")), t) for t, m in zip(now.texts, now.metadatas)} if now else set()
    for chunks in former.values():
        if all((row, text) in current for _, row, text in chunks):
            collection.delete_ids([chunk_id_ for chunk_id_, _, _ in chunks])
            moved += len(chunks)
    return moved
