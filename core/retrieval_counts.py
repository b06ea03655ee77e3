"""How often each chunk is retrieved by a set of queries (hubs and orphans).

In high-dimensional spaces a few points ("hubs") turn up in the top k of
a great many queries while others are never retrieved at all, whatever is
asked. Running a realistic query set and counting appearances shows both:
hubs crowd out better answers, never-retrieved chunks are dead weight or a
chunking problem.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from .embedders import Embedder
from .errors import ExplorerError
from .search import Mode, search_many
from .stores.base import Collection
from .types import ProgressCallback, ProgressEvent, no_progress

BATCH = 64  # queries embedded per call: progress moves, and memory stays small


@dataclass(frozen=True)
class RetrievalCounts:
    counts: dict[str, int]  # chunk id -> how many queries had it in their top k (absent: never)
    queries: int
    k: int
    mode: Mode

    def count(self, chunk_id: str) -> int:
        return self.counts.get(chunk_id, 0)

    def hubs(self, n: int = 10) -> list[tuple[str, int]]:
        """The n most retrieved chunk ids with their counts, most first (ties by id)."""
        return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))[:n]

    def never_retrieved(self, ids: Sequence[str]) -> list[str]:
        return [i for i in ids if i not in self.counts]


def query_lines(text: str) -> list[str]:
    """One query per non-blank line."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def retrieval_counts(collection: Collection, embedder: Embedder, queries: Sequence[str], *, k: int = 10,
                     mode: Mode = "vector", progress: ProgressCallback = no_progress) -> RetrievalCounts:
    """Run every query at k and count how often each chunk is retrieved."""
    queries = [q for q in queries if q.strip()]
    if not queries:
        raise ExplorerError("give at least one query (one per line)")
    if k < 1:
        raise ExplorerError("k must be at least 1")
    counts: Counter[str] = Counter()
    for lo in range(0, len(queries), BATCH):
        progress(ProgressEvent("searching", lo, len(queries)))
        for results in search_many(collection, embedder, queries[lo:lo + BATCH], mode=mode, k=k):
            counts.update(r.id for r in results)
    progress(ProgressEvent("searching", len(queries), len(queries)))
    return RetrievalCounts(dict(counts), len(queries), k, mode)
