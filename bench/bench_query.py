"""Query latency: our hybrid search against plain Chroma kNN and plain bm25s, same queries, one run.

Corpora:
- 5000: the SciFact corpus (5,183 abstracts, title + text, one chunk each);
- any other size: SYNTHETIC. The shared long documents cut into 40-word windows
  (stride 20), repeated under new ids until the size is reached. Unique texts
  are embedded once and their vectors reused for the repeats, so building
  100k chunks costs about a minute of embedding, not seven.
Queries are SciFact claims. Each query goes through every method in turn (the
order rotates), so all methods see the same machine state; p50/p95 per method.
Collections are kept in data/cache/bench-query/ and reused by later runs.
With --postgres and/or --chroma-server, each collection is also copied (vectors
as they are, core.stores.transfer) to those servers and their searches timed in
the same interleaved run.

    .venv/bin/python bench/bench_query.py [--sizes 5000 100000] [--queries 200]
        [--postgres postgresql://...] [--chroma-server chroma://127.0.0.1:8765]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import chromadb
from chromadb.config import Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import (LONG_DOCS, SCIFACT, embed_cached, long_doc_paths, machine_line, measure,  # noqa: E402
                    percentile_ms, plain_bm25s, scifact_queries)
from core.config import DATA_DIR  # noqa: E402
from core.embedders import Embedder, get_embedder  # noqa: E402
from core.evaluation import load_beir  # noqa: E402
from core.search import FusionSettings, search  # noqa: E402
from core.keyword import KeywordIndex  # noqa: E402
from core.stores import open_store  # noqa: E402
from core.stores.chroma import ChromaCollection, ChromaStore  # noqa: E402
from core.stores.transfer import copy_collection  # noqa: E402
from core.types import Chunk  # noqa: E402

CACHE = DATA_DIR / "cache" / "bench-query"
SCIFACT_SIZE = 5000
K = 10


@dataclass
class Corpus:
    label: str
    texts: list[str]  # unique texts
    copies: int       # how many chunks: texts repeated under new ids up to this


def scifact_corpus() -> Corpus:
    texts = [d.content for d in load_beir(SCIFACT, split="train").documents()]
    return Corpus(f"SciFact corpus, {len(texts):,} abstracts", texts, len(texts))


def synthetic_corpus(size: int) -> Corpus:
    windows: list[str] = []
    for path in long_doc_paths():
        words = path.read_text(encoding="utf-8").split()
        windows += [" ".join(words[i:i + 40]) for i in range(0, max(len(words) - 40, 1), 20)]
    return Corpus(f"SYNTHETIC: {len(windows):,} 40-word windows of {LONG_DOCS.name}, repeated under new ids "
                  f"to {size:,} (vectors reused)", windows, size)




def chunk(n: int, text: str, source: str) -> Chunk:
    return Chunk(id=f"c{n:07d}", text=text, source=source, start=0, end=len(text), index=n,
                 metadata={"source": source, "category": "bench", "index": n})


def build_collection(store: ChromaStore, name: str, corpus: Corpus,
                     embedder: Embedder) -> tuple[ChromaCollection, tuple[float, float]]:
    """The collection (reused when complete), and the seconds a full BM25 rebuild takes (`repair`, or catching
    up after another program's write; ordinary writes update the index in place): reading rows, indexing."""
    collection = store.open_collection(name, embedder.info)
    if collection.count() != corpus.copies:
        vectors = embed_cached(embedder, corpus.texts, CACHE)
        for lo in range(0, corpus.copies, 5000):
            ns = range(lo, min(lo + 5000, corpus.copies))
            rows = [n % len(corpus.texts) for n in ns]
            collection.upsert([chunk(n, corpus.texts[r], f"part-{n // len(corpus.texts)}") for n, r in zip(ns, rows)],
                              vectors[rows])
        print(f"  {name}: {collection.count():,} chunks stored", file=sys.stderr)
    # What the first keyword search after any write pays: read every row, index them.
    started = time.perf_counter()
    everything = collection.get()
    read = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        with KeywordIndex(Path(folder) / "kw.sqlite3").writing() as writer:
            writer.rebuild([(everything.ids, everything.texts, everything.metadatas)], "timing")
        index = time.perf_counter() - started
    collection.sync_keyword_index()
    return collection, (read, index)






def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[SCIFACT_SIZE, 100_000],
                        help=f"{SCIFACT_SIZE} = SciFact; other sizes are synthetic (default {SCIFACT_SIZE} 100000)")
    parser.add_argument("--queries", type=int, default=200, help="SciFact claims timed per size (default 200)")
    parser.add_argument("--postgres", help="also time a PostgreSQL + pgvector store at this URL")
    parser.add_argument("--chroma-server", help="also time a Chroma server at this chroma://HOST:PORT")
    args = parser.parse_args()
    servers = {label: open_store(url) for label, url in
               (("pgvector", args.postgres), ("Chroma server", args.chroma_server)) if url}

    embedder = get_embedder("minilm")
    queries = scifact_queries()
    queries = queries[:args.queries]
    store = ChromaStore(str(CACHE / "store"))
    settings = Settings(anonymized_telemetry=False, allow_reset=False)
    raw_client = None  # plain chromadb on the same folder, opened once ours has made it (a folder plain
    # chromadb made first would be someone else's, and read-only to us)
    fusion = FusionSettings()

    results: list[tuple[Corpus, tuple[float, float], dict[str, list[float]]]] = []
    for size in args.sizes:
        corpus = scifact_corpus() if size == SCIFACT_SIZE else synthetic_corpus(size)
        print(f"size {size:,}: {corpus.label}", file=sys.stderr)
        collection, rebuild = build_collection(store, f"bench-{size}", corpus, embedder)
        raw_client = raw_client or chromadb.PersistentClient(path=str(CACHE / "store"), settings=settings)
        raw = raw_client.get_collection(f"bench-{size}")
        query_vectors = embedder.embed(queries)
        bm25_plain = plain_bm25s(corpus.texts, K)
        methods: dict[str, Callable[[int], object]] = {
            "Chroma kNN, embedding given": lambda i: raw.query(query_embeddings=[query_vectors[i]], n_results=K),
            "Chroma kNN + embedding the query": lambda i: raw.query(
                query_embeddings=[embedder.embed([queries[i]])[0]], n_results=K),
            "plain bm25s (tokenize + retrieve)": lambda i: bm25_plain(queries[i]),
            "ours: vector": lambda i: search(collection, embedder, queries[i], mode="vector", k=K),
            "ours: keyword (BM25)": lambda i: search(collection, embedder, queries[i], mode="keyword", k=K),
            "ours: hybrid": lambda i: search(collection, embedder, queries[i], mode="hybrid", k=K, fusion=fusion),
        }
        for label, server in servers.items():
            name = f"bench-{size}"
            if name not in {c.name for c in server.list_collections()}:
                started = time.perf_counter()
                copy_collection(store, server, name)
                print(f"  copied {name} to {label} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
            remote = server.open_collection(name, embedder.info, create=False)
            for mode in ("vector", "keyword", "hybrid"):
                methods[f"{label}: {mode}"] = (lambda i, remote=remote, mode=mode:
                                               search(remote, embedder, queries[i], mode=mode, k=K, fusion=fusion))
        results.append((corpus, rebuild, measure(methods, len(queries))))

    print(machine_line())
    print(f"{len(queries)} SciFact claims per size, k={K}; hybrid = {fusion.method} fusion, lists read "
          f"{fusion.depth} deep; all methods interleaved in one run; ratio = p50 / p50 of 'Chroma kNN + "
          f"embedding the query'\n")
    header = "| method |" + "".join(f" {c.copies:,}: p50 ms | p95 ms | ratio |" for c, _, _ in results)
    print(header)
    print("|---|" + "---:|---:|---:|" * len(results))
    for name in results[0][2]:
        cells = ""
        for _, _, timings in results:
            base = percentile_ms(timings["Chroma kNN + embedding the query"], 50)
            p50 = percentile_ms(timings[name], 50)
            cells += f" {p50:.2f} | {percentile_ms(timings[name], 95):.2f} | {p50 / base:.2f} |"
        print(f"| {name} |{cells}")
    print()
    for corpus, (read, index), _ in results:
        print(f"- {corpus.copies:,} chunks: {corpus.label}. full BM25 rebuild (repair; a write updates in place): "
              f"{read:.2f}s reading the rows from Chroma + {index:.2f}s indexing")


if __name__ == "__main__":
    main()
