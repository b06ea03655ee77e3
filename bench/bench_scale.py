"""Scale: the paths around a warm query at 100,000 chunks, measured side by side in one run.

- adding one 10-chunk document (its vectors made beforehand: embedding excluded) until the keyword
  index answers with it, against a full keyword index rebuild (every row read through the Collection
  protocol and indexed with the project's one BM25 definition, core/keyword.py Analyzer + BM25Settings);
- the first keyword query in a fresh process (a subprocess opens the store and the collection, then
  asks once; the median of 3 processes);
- hybrid search p50 against plain Chroma kNN (embedding the query) + plain bm25s, SciFact claims,
  all three interleaved query by query;
- near-duplicates: one full pass (core/duplicates.py) at 0.80, the page's lowest threshold, k 5;
- the fast embedder (minilm-static) texts/s against MiniLM on the same texts.

Everything goes through the Collection protocol (core/stores), so the bench measures whatever keyword
index the store has. The corpus is SYNTHETIC, built from real text as bench/bench_query.py builds its
own: 40-word windows (stride 20) of the shared long documents and of the SciFact abstracts, repeated
under new ids until the size is reached, embedded with minilm-static (the embedder meant for corpora
this big). The collection is kept in data/cache/bench-scale/ and reused by later runs.

    .venv/bin/python bench/bench_scale.py [--chunks 100000] [--queries 200] [--out bench/results/scale.md]

Last line: `scale: add_one_s=<v> first_query_ms=<v> hybrid_ratio=<v> fast_embed_ratio=<v>`.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

import bm25s
import chromadb
from chromadb.config import Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import (LONG_DOCS, SCIFACT, embed_cached, long_doc_paths, machine_line, measure,  # noqa: E402
                    percentile_ms, plain_bm25s, scifact_queries)
from core.config import DATA_DIR  # noqa: E402
from core.duplicates import find_duplicates  # noqa: E402
from core.embedders import Embedder, get_embedder  # noqa: E402
from core.evaluation import load_beir  # noqa: E402
from core.keyword import Analyzer, BM25Settings  # noqa: E402
from core.search import FusionSettings, search  # noqa: E402
from core.stores import open_store  # noqa: E402
from core.stores.base import Collection  # noqa: E402
from core.types import Chunk, ProgressEvent  # noqa: E402

CACHE = DATA_DIR / "cache" / "bench-scale"
FAST = "minilm-static"
K = 10
WINDOW, STRIDE = 40, 20

FIRST_QUERY = """
import json, sys, time
sys.path.insert(0, {root!r})
from core.stores import open_store
from core.types import EmbedderInfo
started = time.perf_counter()
collection = open_store({store!r}).open_collection({name!r}, EmbedderInfo({fast!r}, {dimension}), create=False)
opened = time.perf_counter()
hits = collection.keyword_search({query!r}, {k})
first = time.perf_counter()
collection.keyword_search({query!r}, {k})
second = time.perf_counter()
print(json.dumps({{"open_ms": 1000 * (opened - started), "first_ms": 1000 * (first - opened),
                  "second_ms": 1000 * (second - first), "hits": len(hits)}}))
"""


def windows(words: list[str]) -> list[str]:
    return [" ".join(words[i:i + WINDOW]) for i in range(0, max(len(words) - WINDOW, 1), STRIDE)]


def corpus_texts() -> tuple[list[str], str]:
    texts: list[str] = []
    for path in long_doc_paths():
        texts += windows(path.read_text(encoding="utf-8").split())
    books = len(texts)
    for document in load_beir(SCIFACT, split="train").documents():
        texts += windows(document.content.split())
    return texts, (f"{books:,} windows of {LONG_DOCS.name} + {len(texts) - books:,} of the SciFact abstracts "
                   f"= {len(texts):,} distinct")




def chunk(n: int, text: str, source: str) -> Chunk:
    return Chunk(id=f"c{n:07d}", text=text, source=source, start=0, end=len(text), index=n,
                 metadata={"source": source, "category": "bench", "index": n})


def build_collection(store_url: str, name: str, size: int, texts: list[str], embedder: Embedder) -> Collection:
    collection = open_store(store_url).open_collection(name, embedder.info)
    if collection.count() != size:
        vectors = embed_cached(embedder, texts, CACHE)
        started = time.perf_counter()
        with collection.bulk_write(size):
            for lo in range(0, size, 5000):
                ns = range(lo, min(lo + 5000, size))
                rows = [n % len(texts) for n in ns]
                collection.upsert([chunk(n, texts[r], f"part-{n // len(texts)}") for n, r in zip(ns, rows)],
                                  vectors[rows])
                print(f"  stored {ns[-1] + 1:,}/{size:,} ({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    started = time.perf_counter()
    collection.sync_keyword_index()
    print(f"  keyword index brought up to date in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return collection


class Clock:
    """Wall seconds, and this process's CPU seconds (every thread): on a machine shared with other work
    the wall time grows with the load, the CPU time much less."""

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu

    def __str__(self) -> str:
        return f"{self.wall:.2f} s (CPU {self.cpu:.2f} s)"


def add_one_document(collection: Collection, embedder: Embedder) -> tuple[Clock, Clock]:
    """Adding a 10-chunk document until a keyword query finds it; deleting it again."""
    marker = f"zq{uuid.uuid4().hex[:10]}"  # a word nothing else contains: the query must find the new chunks
    text = (LONG_DOCS / "pg84_frankenstein.txt").read_text(encoding="utf-8").split()
    source = f"added-{marker}.txt"
    chunks = [Chunk(id=f"{marker}-{i}", text=f"{marker} " + " ".join(text[1000 + 40 * i:1040 + 40 * i]),
                    source=source, start=0, end=0, index=i, metadata={"source": source, "category": "added",
                                                                      "index": i}) for i in range(10)]
    vectors = embedder.embed([c.text for c in chunks])  # made before the clock starts
    with Clock() as adding:
        collection.upsert(chunks, vectors)
        collection.sync_keyword_index()
        hits = collection.keyword_search(marker, K)
    assert sorted(h.id for h in hits) == sorted(c.id for c in chunks), "the added document was not found"
    with Clock() as deleting:
        collection.delete_ids([c.id for c in chunks])
        collection.sync_keyword_index()
    return adding, deleting


def full_rebuild(collection: Collection) -> tuple[Clock, Clock]:
    """A keyword index from nothing: every row read through the protocol, then indexed (BM25, lucene)."""
    with Clock() as reading:
        texts = [t for page in collection.iter_pages() for t in page.texts]
    settings = BM25Settings()
    with Clock() as indexing:
        model = bm25s.BM25(k1=settings.k1, b=settings.b, method="lucene")
        model.index(Analyzer(settings).corpus(texts), show_progress=False)
    return reading, indexing


def first_query_in_fresh_process(store_url: str, collection: Collection, query: str) -> dict[str, float]:
    script = FIRST_QUERY.format(root=str(ROOT), store=store_url, name=collection.name, fast=FAST,
                                dimension=collection.embedder.dimension, query=query, k=K)
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if out.returncode != 0:
            raise SystemExit(f"the fresh-process query failed:\n{out.stderr}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    runs.sort(key=lambda r: r["first_ms"])
    return runs[1]






def texts_per_second(embedder: Embedder, texts: list[str], at_least_s: float) -> float:
    embedder.embed(texts[:8])  # warm-up
    done, started = 0, time.perf_counter()
    while True:
        embedder.embed(texts)
        done += len(texts)
        elapsed = time.perf_counter() - started
        if elapsed >= at_least_s:
            return done / elapsed


def stderr_progress(label: str) -> Callable[[ProgressEvent], None]:
    last = [0.0]

    def show(event: ProgressEvent) -> None:
        if time.perf_counter() - last[0] > 10 or event.done == event.total:
            last[0] = time.perf_counter()
            print(f"  {label}: {event.stage} {event.done:,}/{event.total or 0:,}", file=sys.stderr)
    return show


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000, help="collection size (default 100000)")
    parser.add_argument("--queries", type=int, default=200, help="SciFact claims timed (default 200)")
    parser.add_argument("--embed-texts", type=int, default=128,
                        help="texts both embedders embed for texts/s (default 128)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale.md",
                        help="where the report goes (besides stdout)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    fast = get_embedder(FAST)
    minilm = get_embedder("minilm")
    texts, composition = corpus_texts()
    store_url = str(CACHE / "store")
    print(f"size {args.chunks:,}: {composition}", file=sys.stderr)
    collection = build_collection(store_url, f"scale-{args.chunks}", args.chunks, texts, fast)
    corpus = [texts[n % len(texts)] for n in range(args.chunks)]
    queries = scifact_queries()
    queries = queries[:args.queries]

    print("adding one document", file=sys.stderr)
    adding, deleting = add_one_document(collection, fast)
    print("full keyword index rebuild", file=sys.stderr)
    reading, indexing = full_rebuild(collection)
    print("first query in a fresh process", file=sys.stderr)
    fresh = first_query_in_fresh_process(store_url, collection, queries[0])

    print("query latency", file=sys.stderr)
    client = chromadb.PersistentClient(path=store_url, settings=Settings(anonymized_telemetry=False, allow_reset=False))
    raw = client.get_collection(collection.name)
    bm25_plain = plain_bm25s(corpus, K)
    fusion = FusionSettings()
    methods: dict[str, Callable[[int], object]] = {
        "plain Chroma kNN + embedding the query": lambda i: raw.query(
            query_embeddings=[fast.embed([queries[i]])[0]], n_results=K),
        "plain bm25s (tokenize + retrieve)": lambda i: bm25_plain(queries[i]),
        "ours: hybrid": lambda i: search(collection, fast, queries[i], mode="hybrid", k=K, fusion=fusion),
    }
    timings = measure(methods, len(queries))
    p50 = {name: percentile_ms(t, 50) for name, t in timings.items()}
    hybrid_ratio = p50["ours: hybrid"] / (p50["plain Chroma kNN + embedding the query"]
                                          + p50["plain bm25s (tokenize + retrieve)"])

    print("near-duplicates", file=sys.stderr)
    with Clock() as duplicates:
        report = find_duplicates(collection, 0.80, 5, progress=stderr_progress("near-duplicates"))

    print("embedding throughput", file=sys.stderr)
    sample = texts[::max(1, len(texts) // args.embed_texts)][:args.embed_texts]
    minilm_tps = texts_per_second(minilm, sample, at_least_s=1.0)
    fast_tps = texts_per_second(fast, sample, at_least_s=2.0)
    load_after = os.getloadavg()[0]

    kind = f"{type(collection).__module__}.{type(collection).__name__}"
    lines = [
        f"# Scale: `bench/bench_scale.py --chunks {args.chunks}`",
        "",
        machine_line(),
        f"load average (1 min) before {load_before:.1f}, after {load_after:.1f} on {os.cpu_count()} cores "
        "(well above the core count means other work competed and wall times are inflated; CPU = this "
        "process's CPU seconds over all its threads, the better guide to a quiet machine)",
        "",
        f"{args.chunks:,} chunks, SYNTHETIC: 40-word windows (stride 20) of real text, {composition}, repeated "
        f"under new ids to {args.chunks:,}; embedded with {FAST} ({fast.info.dimension} dimensions). "
        f"Store: Chroma folder ({kind}).",
        "",
        "| what | measured | side by side with |",
        "|---|---:|---|",
        f"| add one 10-chunk document (embedding excluded) until a keyword query finds it | {adding} | "
        f"full keyword rebuild {reading.wall + indexing.wall:.2f} s: reading the rows {reading}, indexing "
        f"{indexing} |",
        f"| delete it again, index up to date | {deleting} | |",
        f"| first keyword query in a fresh process (median of 3) | {fresh['first_ms']:.1f} ms | opening the store "
        f"and collection {fresh['open_ms']:.1f} ms; second query {fresh['second_ms']:.1f} ms |",
        f"| hybrid p50 ({len(queries)} SciFact claims, k {K}) | {p50['ours: hybrid']:.2f} ms | plain Chroma kNN "
        f"+ embedding {p50['plain Chroma kNN + embedding the query']:.2f} ms + plain bm25s "
        f"{p50['plain bm25s (tokenize + retrieve)']:.2f} ms: ratio {hybrid_ratio:.2f} |",
        f"| near-duplicates, full pass at 0.80, k 5 | {duplicates} | {report.chunks_scanned:,} chunks, "
        f"{len(report.pairs):,} pairs ({sum(p.exact for p in report.pairs):,} identical texts), "
        f"{len(report.groups):,} groups |",
        f"| {FAST} texts/s ({len(sample)} windows) | {fast_tps:,.0f} | MiniLM {minilm_tps:,.1f} texts/s: "
        f"{fast_tps / minilm_tps:.0f}x |",
        "",
        f"scale: add_one_s={adding.wall:.2f} first_query_ms={fresh['first_ms']:.1f} hybrid_ratio={hybrid_ratio:.2f} "
        f"fast_embed_ratio={fast_tps / minilm_tps:.1f}",
    ]
    report_text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report_text, encoding="utf-8")
    print(report_text, end="")


if __name__ == "__main__":
    main()
