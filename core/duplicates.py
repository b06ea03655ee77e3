"""Near-duplicate chunks: pairs above a cosine threshold, grouped into connected components.

No all-pairs matrix: the collection is read a page at a time with its stored
embeddings and every chunk asks the store's own kNN index for its few nearest
neighbours, so the cost grows with n * k, not n^2, and works the same on Chroma
or pgvector. A filter (categories, sources) is passed to both the page reads and
the kNN, so neighbours come from the same set the scan covers. A chunk always
finds itself (skipped), and k bounds how many
partners one chunk can report; grouping pairs with union-find still joins larger
clusters through chains of neighbours. Identical texts are also matched by hash
while reading, so exact duplicates show up even when more than k of them exist
or the approximate index misses one.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

from .errors import ExplorerError
from .stores.base import Collection
from .types import Filter, Metadata, ProgressCallback, ProgressEvent, content_hash, no_progress


@dataclass(frozen=True)
class ChunkRef:
    """One chunk of a duplicate pair, as the page shows it."""

    id: str
    text: str
    source: str
    metadata: Metadata


@dataclass(frozen=True)
class DuplicatePair:
    a: ChunkRef
    b: ChunkRef
    similarity: float  # cosine of the stored embeddings
    exact: bool        # identical text

    @property
    def cross_source(self) -> bool:
        return self.a.source != self.b.source


@dataclass(frozen=True)
class DuplicateGroup:
    """Chunks joined by near-duplicate pairs (a connected component), its pairs best first."""

    chunks: tuple[ChunkRef, ...]
    pairs: tuple[DuplicatePair, ...]

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({c.source for c in self.chunks}))

    @property
    def best(self) -> float:
        return max(p.similarity for p in self.pairs)


@dataclass(frozen=True)
class DuplicateReport:
    threshold: float
    neighbours: int
    chunks_scanned: int
    pairs: tuple[DuplicatePair, ...]   # best first
    groups: tuple[DuplicateGroup, ...]  # largest first


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        root = self.parent.setdefault(item, item)
        while root != self.parent[root]:
            root = self.parent[root]
        while item != root:  # path compression
            item, self.parent[item] = self.parent[item], root
        return root

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def _ref(chunk_id: str, text: str, metadata: Metadata) -> ChunkRef:
    return ChunkRef(chunk_id, text, str(metadata.get("source", "")), metadata)


def find_duplicates(collection: Collection, threshold: float = 0.95, neighbours: int = 5,
                    where: Filter | None = None, progress: ProgressCallback = no_progress) -> DuplicateReport:
    """Every pair of chunks (within `where`) whose cosine similarity is at least `threshold`."""
    if not 0.0 < threshold <= 1.0:
        raise ExplorerError(f"the similarity threshold must be above 0 and at most 1, not {threshold}")
    if neighbours < 1:
        raise ExplorerError("look at least 1 neighbour per chunk")
    total = collection.count()
    found: dict[tuple[str, str], DuplicatePair] = {}
    first_with_text: dict[str, ChunkRef] = {}
    scanned = 0

    def add(a: ChunkRef, b: ChunkRef, similarity: float) -> None:
        key = (a.id, b.id) if a.id < b.id else (b.id, a.id)
        pair = DuplicatePair(a, b, min(similarity, 1.0), a.text == b.text)
        if key not in found or found[key].similarity < pair.similarity:
            found[key] = pair

    for page in collection.iter_pages(where, include_embeddings=True):
        assert page.embeddings is not None
        for chunk_id, text, metadata, embedding in zip(page.ids, page.texts, page.metadatas, page.embeddings):
            me = _ref(chunk_id, text, metadata)
            twin = first_with_text.setdefault(content_hash(text), me)
            if twin.id != me.id:
                add(twin, me, 1.0)
            # k + 1: the chunk itself is (almost always) its own nearest neighbour.
            for hit in collection.vector_search(embedding, neighbours + 1, where):
                if hit.id != chunk_id and hit.score >= threshold:
                    add(me, _ref(hit.id, hit.text, hit.metadata), hit.score)
            scanned += 1
        progress(ProgressEvent("comparing chunks", scanned, total))
    pairs = sorted(found.values(), key=lambda p: (-p.similarity, p.a.id, p.b.id))
    return DuplicateReport(threshold, neighbours, scanned, tuple(pairs), _groups(pairs))


def _groups(pairs: list[DuplicatePair]) -> tuple[DuplicateGroup, ...]:
    components = _UnionFind()
    for pair in pairs:
        components.union(pair.a.id, pair.b.id)
    members: dict[str, dict[str, ChunkRef]] = {}
    edges: dict[str, list[DuplicatePair]] = {}
    for pair in pairs:
        root = components.find(pair.a.id)
        members.setdefault(root, {}).update({pair.a.id: pair.a, pair.b.id: pair.b})
        edges.setdefault(root, []).append(pair)
    groups = [DuplicateGroup(tuple(sorted(members[r].values(), key=lambda c: (c.source, c.id))), tuple(edges[r]))
              for r in members]
    return tuple(sorted(groups, key=lambda g: (-len(g.chunks), -g.best, g.chunks[0].id)))


# -- what differs between two chunks ---------------------------------------------------------------

TOKEN = re.compile(r"\s+|[^\s]+")


@dataclass(frozen=True)
class DiffPart:
    """A run of the two texts: the same in both ("equal"), or what one has in place of the other."""

    op: Literal["equal", "replace", "delete", "insert"]
    left: str
    right: str


def word_diff(left: str, right: str) -> list[DiffPart]:
    """The two texts as aligned runs, compared word by word (whitespace kept, so runs join back)."""
    a, b = TOKEN.findall(left), TOKEN.findall(right)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return [DiffPart(op, "".join(a[i1:i2]), "".join(b[j1:j2]))  # type: ignore[arg-type]
            for op, i1, i2, j1, j2 in matcher.get_opcodes()]
