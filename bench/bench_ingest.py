"""Ingest throughput: the full pipeline against the bare embedder on the same texts.

The pipeline loads, chunks (counting model tokens), embeds, upserts into a fresh
Chroma folder and rebuilds the BM25 index. The bare run embeds exactly the chunk
texts the pipeline produced, in the same batch size. Runs alternate (bare,
pipeline, bare, pipeline, ...) and the best of each is kept, so both see the
same machine state. Prints a markdown table.

    .venv/bin/python bench/bench_ingest.py [--chars 300000] [--repeats 2]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line  # noqa: E402

from core.chunking import chunk_documents  # noqa: E402
from core.config import DEFAULT_CHUNKING, SAMPLES_DIR  # noqa: E402
from core.embedders import get_embedder  # noqa: E402
from core.embedding_cache import EmbeddingCache  # noqa: E402
from core.pipeline import BATCH_SIZE, Upload, ingest  # noqa: E402
from core.loaders import load_bytes  # noqa: E402
from core.stores import open_store  # noqa: E402

BOOKS = ["pg1342_pride_and_prejudice.txt", "pg84_frankenstein.txt", "commonmark_spec.txt"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chars", type=int, default=300_000, help="characters taken from each sample book")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    embedder = get_embedder("minilm")
    uploads = [Upload(name, (SAMPLES_DIR / name).read_text(encoding="utf-8")[:args.chars].encode("utf-8"))
               for name in BOOKS]
    texts = [c.text for u in uploads
             for c in chunk_documents(load_bytes(u.name, u.data), DEFAULT_CHUNKING,
                                      count_tokens=embedder.count_tokens)]
    embedder.embed(texts[:64])  # warm-up: first ONNX runs allocate

    bare, piped, cached = [], [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        for lo in range(0, len(texts), BATCH_SIZE):
            embedder.embed(texts[lo:lo + BATCH_SIZE])
        bare.append(len(texts) / (time.perf_counter() - started))

        with tempfile.TemporaryDirectory() as folder:
            # A fresh embedding cache: the first ingest embeds every text (and fills the cache)...
            cache = EmbeddingCache(Path(folder) / "cache.sqlite")
            collection = open_store(folder).open_collection("bench", embedder.info)
            report = ingest(uploads, collection, embedder, DEFAULT_CHUNKING, cache=cache)
            assert report.chunks_added == len(texts), report.summary()
            distinct = report.chunks_embedded  # identical chunk texts are embedded once
            piped.append(len(texts) / report.seconds)
            # ...the same files under another folder label are new documents with every vector cached.
            copies = [Upload(u.name, u.data, folder="copy") for u in uploads]
            report = ingest(copies, collection, embedder, DEFAULT_CHUNKING, cache=cache)
            assert report.chunks_added == len(texts) and report.chunks_embedded == 0, report.summary()
            cached.append(len(texts) / report.seconds)

    best_bare, best_pipe = max(bare), max(piped)
    print(machine_line())
    print(f"texts: {len(texts)} chunks ({distinct} distinct texts; {DEFAULT_CHUNKING.key()}) from {len(BOOKS)} books, "
          f"{args.chars:,} chars each; best of {args.repeats} alternating runs\n")
    print("| run | texts/s | relative |")
    print("|---|---:|---:|")
    print(f"| bare embedder (MiniLM ONNX, batches of {BATCH_SIZE}) | {best_bare:.1f} | 1.00 |")
    print(f"| full pipeline (load, chunk, embed, Chroma upsert, BM25) | {best_pipe:.1f} | "
          f"{best_pipe / best_bare:.2f} |")
    print(f"| same files again under new names (every vector from the embedding cache) | {max(cached):.1f} | "
          f"{max(cached) / best_bare:.2f} |")
    print(f"\npipeline overhead: {100 * (best_bare / best_pipe - 1):.1f}% of the bare embedding time")


if __name__ == "__main__":
    main()
