"""Near-duplicate chunks: pairs above a cosine threshold, grouped into connected components.

One batched pass: the collection's stored embeddings (within a filter: categories,
sources) are read a page at a time, then compared as a blocked matrix product over
the upper triangle (each pair once, a few hundred rows per block, so memory stays
at one block of similarities). Only pairs at or above the threshold are kept, and
each chunk reports at most its k most similar partners (a pair stays when it is in
the top k of either end), which bounds the result however many look-alikes exist;
grouping with union-find still joins larger clusters through chains of pairs.
Identical texts are matched by hash while reading: every copy pairs with the first
one (similarity 1) and only that first one enters the matrix, so a text repeated
thousands of times costs one row, not millions of pairs.

A report scanned at a low threshold answers every higher one: `report.at(t)` keeps
the pairs at or above t and regroups them, the same result as a scan at t (a pair in
a chunk's top k among partners >= low is in its top k among partners >= t). So a
page scans once at its lowest threshold and a slider only filters.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .documents import DocumentKey
from .embedders import normalise
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

    @property
    def document(self) -> DocumentKey:
        return DocumentKey.of(self.metadata)


@dataclass(frozen=True)
class DuplicatePair:
    a: ChunkRef
    b: ChunkRef
    similarity: float  # cosine of the stored embeddings
    exact: bool        # identical text

    @property
    def cross_document(self) -> bool:
        """From two documents: two files, or two rows of one CSV / JSONL file."""
        return self.a.document != self.b.document


@dataclass(frozen=True)
class DuplicateGroup:
    """Chunks joined by near-duplicate pairs (a connected component), its pairs best first."""

    chunks: tuple[ChunkRef, ...]
    pairs: tuple[DuplicatePair, ...]

    @property
    def documents(self) -> tuple[DocumentKey, ...]:
        return tuple(sorted({c.document for c in self.chunks}))

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

    def at(self, threshold: float) -> DuplicateReport:
        """The same report at a threshold at or above the scanned one: pairs filtered, groups redrawn."""
        _check_threshold(threshold)
        if threshold < self.threshold:
            raise ExplorerError(f"this scan kept pairs from {self.threshold:g} up; {threshold:g} needs a new scan")
        pairs = [p for p in self.pairs if p.similarity >= threshold]
        return DuplicateReport(threshold, self.neighbours, self.chunks_scanned, tuple(pairs), _groups(pairs))


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


# Similarity cells per block of the matrix product (float32: 128 MB), and how many candidate pairs are
# held before they are cut to the top k per chunk (cutting early is safe: later pairs only add rivals).
BLOCK_CELLS = 2**25
PRUNE_AT = 4_000_000


def _ref(chunk_id: str, text: str, metadata: Metadata) -> ChunkRef:
    return ChunkRef(chunk_id, text, str(metadata.get("source", "")), metadata)


def _pair(a: ChunkRef, b: ChunkRef, similarity: float) -> DuplicatePair:
    return DuplicatePair(a, b, min(float(similarity), 1.0), a.text == b.text)


def _check_threshold(threshold: float) -> None:
    if not 0.0 < threshold <= 1.0:
        raise ExplorerError(f"the similarity threshold must be above 0 and at most 1, not {threshold}")


def find_duplicates(collection: Collection, threshold: float = 0.95, neighbours: int = 5,
                    where: Filter | None = None, progress: ProgressCallback = no_progress) -> DuplicateReport:
    """Every pair of chunks (within `where`) whose cosine similarity is at least `threshold`, at most
    `neighbours` partners per chunk besides its identical copies."""
    _check_threshold(threshold)
    if neighbours < 1:
        raise ExplorerError("look at least 1 neighbour per chunk")
    total = collection.count()
    distinct: list[ChunkRef] = []  # the first chunk of each text: the rows of the matrix
    rows: list[np.ndarray] = []
    first_with_text: dict[str, int] = {}
    pairs: list[DuplicatePair] = []
    scanned = 0
    for page in collection.iter_pages(where, include_embeddings=True):
        assert page.embeddings is not None
        for chunk_id, text, metadata, embedding in zip(page.ids, page.texts, page.metadatas, page.embeddings):
            me = _ref(chunk_id, text, metadata)
            twin = first_with_text.setdefault(content_hash(text), len(distinct))
            if twin == len(distinct):
                distinct.append(me)
                rows.append(embedding)
            else:
                pairs.append(_pair(distinct[twin], me, 1.0))
        scanned += len(page.ids)
        progress(ProgressEvent("reading chunks", scanned, total))
    if rows:
        first, second, similarity = _similar_pairs(normalise(np.stack(rows)), threshold, neighbours, progress)
        pairs += [_pair(distinct[i], distinct[j], s) for i, j, s in zip(first.tolist(), second.tolist(),
                                                                        similarity.tolist())]
    pairs.sort(key=lambda p: (-p.similarity, p.a.id, p.b.id))
    return DuplicateReport(threshold, neighbours, scanned, tuple(pairs), _groups(pairs))


def _similar_pairs(vectors: np.ndarray, threshold: float, neighbours: int,
                   progress: ProgressCallback) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row pairs (i < j) with cosine >= threshold, each in the top `neighbours` of i or of j."""
    n = len(vectors)
    block = max(1, min(n, BLOCK_CELLS // n))
    # One buffer for every block's similarities and one for its mask: no fresh 128 MB per block.
    cells = np.empty(block * n, dtype=np.float32)
    above = np.empty(block * n, dtype=bool)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    held = 0
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        shape = (hi - lo, n - lo)
        similarity = np.matmul(vectors[lo:hi], vectors[lo:].T, out=cells[:shape[0] * shape[1]].reshape(shape))
        similarity[:, :hi - lo][np.tril_indices(hi - lo)] = -np.inf  # each pair once, never itself
        mask = np.greater_equal(similarity, threshold, out=above[:shape[0] * shape[1]].reshape(shape))
        rows, columns = np.nonzero(mask)
        found.append((rows + lo, columns + lo, similarity[rows, columns]))
        held += len(rows)
        if held > PRUNE_AT:
            found = [_top_k_either_end(*map(np.concatenate, zip(*found)), neighbours)]
            held = len(found[0][0])
        # Rows lo..hi cost n - lo columns each: progress is the share of that work done, not of rows.
        progress(ProgressEvent("comparing chunks", n * n - (n - hi) ** 2, n * n))
    return _top_k_either_end(*map(np.concatenate, zip(*found)), neighbours)


def _top_k_either_end(first: np.ndarray, second: np.ndarray, similarity: np.ndarray,
                      k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs among the `k` most similar of at least one of their two chunks (ties by row order)."""
    order = np.lexsort((second, first, -similarity))  # best first
    ends = np.stack([first[order], second[order]], axis=1).ravel()  # both ends of each pair, best pair first
    pair_of_end = np.repeat(order, 2)
    by_chunk = np.argsort(ends, kind="stable")  # per chunk, still best first
    sorted_ends = ends[by_chunk]
    rank = np.arange(len(sorted_ends)) - np.searchsorted(sorted_ends, sorted_ends, side="left")
    keep = np.zeros(len(similarity), dtype=bool)
    keep[pair_of_end[by_chunk][rank < k]] = True
    return first[keep], second[keep], similarity[keep]


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
    groups = [DuplicateGroup(tuple(sorted(members[r].values(), key=lambda c: (c.document, c.id))), tuple(edges[r]))
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
