"""Vector, keyword and hybrid search over any Collection, with a per-result breakdown.

Hybrid search reads both lists `depth` deep and fuses them, either by a
convex combination of scores (weight * vector + (1 - weight) * keyword, each
list's scores divided by its best) or by reciprocal rank fusion (RRF: each
list adds weight / (rrf_k + rank)). Every result says where it stood in each
list and what each list contributed, so the page can show why it ranks where
it does, and `fusion_sweep` shows how the top results move as the settings change.

A search may be narrowed to chosen documents, rows of a CSV / JSONL file included (`documents`).
Stores filter by category and source; rows are narrowed here: every chunk of the chosen files is
ranked, those of other rows are dropped and the rest ranked again, so each list is what a store
filtering by row would return.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Sequence

import numpy as np

from .documents import DocumentKey
from .embedders import Embedder
from .embedding_endpoints import embed_queries
from .stores.base import Collection
from .types import Filter, Hit, Metadata

Mode = Literal["vector", "keyword", "hybrid"]
MODES: tuple[Mode, ...] = ("vector", "keyword", "hybrid")
DEFAULT_MODE: Mode = "hybrid"  # the best of the three on SciFact (README); every page opens on it


@dataclass(frozen=True)
class FusionSettings:
    """How hybrid search combines the vector and keyword lists.

    `weight` is the vector list's share; the keyword list gets 1 - weight. In
    convex fusion it scales the list-normalised score, in RRF 1 / (rrf_k + rank).
    Defaults from a coarse grid on the SciFact train split with MiniLM (nDCG@10):
    convex 0.736 at weight 0.5, flat within 0.003 for weight 0.5-0.6 and depth
    20-200; the best RRF cell (rrf_k 10, weight 0.4) reached 0.723, rrf_k 60 0.718;
    BM25 alone 0.694, MiniLM alone 0.661.
    """

    method: Literal["rrf", "convex"] = "convex"
    rrf_k: int = 60
    depth: int = 100
    weight: float = 0.5


@dataclass(frozen=True)
class Fused:
    """One item after fusion: its fused score and what each input list added to it."""

    id: str
    score: float
    contributions: tuple[float, ...]


@dataclass(frozen=True)
class SearchResult:
    """A search result with the breakdown of how it got its rank.

    `vector_rank`/`keyword_rank` are where it stood in each list alone (None:
    not within the depth read); `score` is the fused score in hybrid mode and
    the one list's score otherwise, and always equals the sum of the two
    contributions.
    """

    id: str
    text: str
    metadata: Metadata
    score: float
    rank: int
    vector_rank: int | None = None
    vector_score: float | None = None  # cosine similarity
    keyword_rank: int | None = None
    keyword_score: float | None = None  # BM25
    vector_contribution: float = 0.0
    keyword_contribution: float = 0.0


# -- fusion: pure functions over ranked lists -----------------------------------------

def _ordered(scored: dict[str, list[float]], best_rank: dict[str, int]) -> list[Fused]:
    # Ties (common in RRF) go to the item that stood higher in some list, then by id.
    items = [Fused(id=i, score=float(sum(parts)), contributions=tuple(parts)) for i, parts in scored.items()]
    return sorted(items, key=lambda f: (-f.score, best_rank[f.id], f.id))


def _best_ranks(lists: Sequence[Sequence[Hit]]) -> dict[str, int]:
    best: dict[str, int] = {}
    for hits in lists:
        for hit in hits:
            best[hit.id] = min(hit.rank, best.get(hit.id, hit.rank))
    return best


def fuse_rrf(lists: Sequence[Sequence[Hit]], weights: Sequence[float], rrf_k: int = 60) -> list[Fused]:
    """Reciprocal rank fusion: an item gets weight / (rrf_k + rank) from each list it is in."""
    scored: dict[str, list[float]] = {}
    for n, (hits, weight) in enumerate(zip(lists, weights)):
        for hit in hits:
            scored.setdefault(hit.id, [0.0] * len(lists))[n] = weight / (rrf_k + hit.rank)
    return _ordered(scored, _best_ranks(lists))


def scale_by_best(scores: np.ndarray) -> np.ndarray:
    """Each score divided by the list's best, so the best gets 1.

    Chosen over min-max on SciFact (docs/evaluation.md): min-max stretches
    whatever spread a list has to 0..1, so a list of near-equal scores (cosines
    within a few hundredths of each other) gets as loud a say as a sharply
    peaked one; dividing by the best keeps each list's own spread. A list whose
    best score is not positive has no usable scale and counts as flat.
    """
    best = float(scores.max(initial=0.0))
    return scores / best if best > 0 else np.ones_like(scores)


def fuse_convex(lists: Sequence[Sequence[Hit]], weights: Sequence[float]) -> list[Fused]:
    """Convex combination: sum over lists of weight * score scaled by the list's best.

    An item a list did not return gets that list's lowest scaled score: it
    ranked below the last item read, so that is the most it can have scored
    there (0 would treat every miss as infinitely far off, however deep the cut).
    """
    scaled = [scale_by_best(np.array([h.score for h in hits], dtype=np.float64)) for hits in lists]
    floors = [float(values.min()) if len(values) else 0.0 for values in scaled]
    ids = dict.fromkeys(h.id for hits in lists for h in hits)
    scored = {i: [weight * floor for weight, floor in zip(weights, floors)] for i in ids}
    for n, (hits, values) in enumerate(zip(lists, scaled)):
        for hit, value in zip(hits, values):
            scored[hit.id][n] = weights[n] * float(value)
    return _ordered(scored, _best_ranks(lists))


def fuse(vector_hits: Sequence[Hit], keyword_hits: Sequence[Hit], settings: FusionSettings) -> list[Fused]:
    """Both lists cut to `settings.depth` and fused as the settings say."""
    lists = (vector_hits[:settings.depth], keyword_hits[:settings.depth])
    weights = (settings.weight, 1.0 - settings.weight)
    if settings.method == "rrf":
        return fuse_rrf(lists, weights, settings.rrf_k)
    return fuse_convex(lists, weights)


# -- search ----------------------------------------------------------------------------

def _deep_enough(fusion: FusionSettings, k: int) -> FusionSettings:
    """Lists are read at least k deep, so asking for more results than `depth` still gets them."""
    return fusion if fusion.depth >= k else replace(fusion, depth=k)


def _results(fused: Sequence[Fused], vector_hits: Sequence[Hit], keyword_hits: Sequence[Hit]) -> list[SearchResult]:
    by_vector = {h.id: h for h in vector_hits}
    by_keyword = {h.id: h for h in keyword_hits}
    results = []
    for rank, item in enumerate(fused, start=1):
        v, kw = by_vector.get(item.id), by_keyword.get(item.id)
        hit = v or kw
        assert hit is not None  # fused items come from these lists
        results.append(SearchResult(
            id=item.id, text=hit.text, metadata=hit.metadata, score=item.score, rank=rank,
            vector_rank=v.rank if v else None, vector_score=v.score if v else None,
            keyword_rank=kw.rank if kw else None, keyword_score=kw.score if kw else None,
            vector_contribution=item.contributions[0], keyword_contribution=item.contributions[1]))
    return results


def _single(hits: Sequence[Hit], mode: Mode) -> list[SearchResult]:
    """One list as results: its score is the whole score, credited to that list."""
    fused = [Fused(h.id, h.score, (h.score, 0.0) if mode == "vector" else (0.0, h.score)) for h in hits]
    return _results(fused, hits if mode == "vector" else [], hits if mode == "keyword" else [])


@dataclass(frozen=True)
class Narrowed:
    """The chunks of chosen documents: the store's filter (their files), how many chunks it lets through,
    and which of those belong to the chosen documents."""

    where: Filter
    chunks: int
    allowed: frozenset[str]

    @classmethod
    def of(cls, collection: Collection, where: Filter | None, documents: Sequence[DocumentKey]) -> Narrowed:
        chosen = set(documents)
        sources = tuple(s for s in dict.fromkeys(d.source for d in documents)
                        if where is None or not where.sources or s in where.sources)
        files = Filter(categories=where.categories if where else None, sources=sources or ("",))
        held = collection.get(where=files)
        keys = (DocumentKey.of(m or {}) for m in held.metadatas)
        allowed = frozenset(i for i, key in zip(held.ids, keys) if key in chosen or DocumentKey(key.source) in chosen)
        return cls(files, len(held.ids), allowed)

    def keep(self, hits: Sequence[Hit], depth: int) -> list[Hit]:
        kept = [h for h in hits if h.id in self.allowed][:depth]
        return [replace(h, rank=rank) for rank, h in enumerate(kept, start=1)]


def _retrieve(collection: Collection, query: str, embedding: np.ndarray | None, mode: Mode, depth: int,
              where: Filter | None, narrowed: Narrowed | None = None) -> tuple[list[Hit], list[Hit]]:
    if narrowed is not None:  # every chunk of the chosen files ranked, then those of other rows dropped
        vector_hits, keyword_hits = _retrieve(collection, query, embedding, mode, max(narrowed.chunks, 1),
                                              narrowed.where)
        return narrowed.keep(vector_hits, depth), narrowed.keep(keyword_hits, depth)
    vector_hits = collection.vector_search(embedding, depth, where) if embedding is not None else []
    keyword_hits = collection.keyword_search(query, depth, where) if mode != "vector" else []
    return vector_hits, keyword_hits


def search_many(collection: Collection, embedder: Embedder, queries: Sequence[str], *, mode: Mode = DEFAULT_MODE,
                k: int = 10, where: Filter | None = None, fusion: FusionSettings = FusionSettings(),
                documents: Sequence[DocumentKey] = ()) -> list[list[SearchResult]]:
    """`search` for many queries, embedding them all in one call (an evaluation runs hundreds)."""
    if mode not in MODES:
        raise ValueError(f"unknown search mode {mode!r}; expected one of {', '.join(MODES)}")
    live = [i for i, q in enumerate(queries) if q.strip()]
    embeddings = embed_queries(embedder, [queries[i] for i in live]) if mode != "keyword" and live else None
    out: list[list[SearchResult]] = [[] for _ in queries]
    if k <= 0:
        return out
    fusion = _deep_enough(fusion, k)
    depth = fusion.depth if mode == "hybrid" else k
    narrowed = Narrowed.of(collection, where, documents) if documents and live else None
    for n, i in enumerate(live):
        embedding = embeddings[n] if embeddings is not None else None
        vector_hits, keyword_hits = _retrieve(collection, queries[i], embedding, mode, depth, where, narrowed)
        if mode == "hybrid":
            out[i] = _results(fuse(vector_hits, keyword_hits, fusion)[:k], vector_hits, keyword_hits)
        else:
            out[i] = _single(vector_hits or keyword_hits, mode)
    return out


def search(collection: Collection, embedder: Embedder, query: str, *, mode: Mode = DEFAULT_MODE, k: int = 10,
           where: Filter | None = None, fusion: FusionSettings = FusionSettings(),
           documents: Sequence[DocumentKey] = ()) -> list[SearchResult]:
    """The k best chunks for `query`, among the chosen documents if any (a key without a row: the whole
    file); an empty query finds nothing."""
    return search_many(collection, embedder, [query], mode=mode, k=k, where=where, fusion=fusion,
                       documents=documents)[0]


# -- how results move as fusion settings change -----------------------------------------

@dataclass(frozen=True)
class RankRow:
    """One chunk's fused rank under each compared setting (None: not fused at all, beyond depth)."""

    id: str
    text: str
    metadata: Metadata
    ranks: tuple[int | None, ...]

    @property
    def movement(self) -> int | None:
        """Places gained from the first setting to the last (positive = moved up)."""
        first, last = self.ranks[0], self.ranks[-1]
        return None if first is None or last is None else first - last


@dataclass(frozen=True)
class FusionSweep:
    settings: tuple[FusionSettings, ...]
    rows: list[RankRow]  # every chunk in some setting's top k, by its rank under the first setting


def fusion_sweep(collection: Collection, embedder: Embedder, query: str, settings: Sequence[FusionSettings],
                 *, k: int = 10, where: Filter | None = None, documents: Sequence[DocumentKey] = ()) -> FusionSweep:
    """Rank the same query under several fusion settings, retrieving the lists only once.

    Both lists are read as deep as the deepest setting; each setting then cuts
    them to its own depth, which is exactly what a separate search would see.
    """
    if not settings:
        raise ValueError("fusion_sweep needs at least one FusionSettings")
    if not query.strip():
        return FusionSweep(tuple(settings), [])
    settings = [_deep_enough(s, k) for s in settings]
    depth = max(s.depth for s in settings)
    narrowed = Narrowed.of(collection, where, documents) if documents else None
    vector_hits, keyword_hits = _retrieve(collection, query, embed_queries(embedder, [query])[0], "hybrid", depth,
                                          where, narrowed)
    rankings = [{f.id: rank for rank, f in enumerate(fuse(vector_hits, keyword_hits, s), start=1)}
                for s in settings]
    hits = {h.id: h for h in [*keyword_hits, *vector_hits]}
    shown = {i for ranking in rankings for i, rank in ranking.items() if rank <= k}
    far = len(hits) + 1  # sorts chunks absent under the first setting last
    rows = [RankRow(id=i, text=hits[i].text, metadata=hits[i].metadata,
                    ranks=tuple(ranking.get(i) for ranking in rankings))
            for i in shown]
    rows.sort(key=lambda row: (row.ranks[0] or far, row.ranks[-1] or far, row.id))
    return FusionSweep(tuple(settings), rows)
