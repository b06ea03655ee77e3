"""`python -m core eval --beir DIR`: retrieval quality of each search mode on a BEIR benchmark."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..evaluation import evaluate, ingest_benchmark, load_beir
from ..search import MODES, FusionSettings
from ..stores import open_store
from ..workspace import no_empty_leftovers, open_workspace
from .common import add_beir_options, add_chunking_options, add_store_options, chunk_settings, store_url
from .ingest import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="measure search quality on a BEIR benchmark",
                       description="Ingest a BEIR corpus (title + text, one chunk per document unless --chunker "
                                   "is given) through the normal pipeline, run every judged query with the app's "
                                   "default search settings, and print nDCG@10, recall@10, recall@100 and MRR@10 "
                                   "per mode. The last line is `nDCG@10 <value>` of the best mode.")
    add_beir_options(p)
    p.add_argument("--qrels", type=Path, metavar="FILE", help="judgments file to use instead of --split")
    p.add_argument("--mode", choices=[*MODES, "all"], default="all", help="search mode(s) to score (default all)")
    add_store_options(p)
    p.add_argument("--collection", help="collection for the corpus (default beir-<folder name>, plus the "
                                        "chunking when --chunker is given); reused when already filled")
    p.add_argument("--embedder", default=None, help="embedding model for a new collection (default minilm)")
    add_chunking_options(p)
    p.set_defaults(run=run, chunker=None)  # no chunker: one chunk per document


def collection_name(folder: Path, chunking_key: str | None) -> str:
    base = f"beir-{folder.resolve().name}" + (f"-{chunking_key}" if chunking_key else "")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-._")[:63]


def run(args: argparse.Namespace) -> int:
    bench = load_beir(args.beir, split=args.split, qrels_file=args.qrels)
    settings = chunk_settings(args) if args.chunker else None
    name = args.collection or collection_name(args.beir, settings.key() if settings else None)
    documents = sum(1 for _ in bench.documents())  # reads every row: a malformed corpus is refused here
    store = open_store(store_url(args))
    with no_empty_leftovers(store):
        workspace = open_workspace(store, name, args.embedder, create=True)
        with progress_bar(f"ingest {bench.name}") as show:
            report = ingest_benchmark(bench, workspace.collection, workspace.embedder, settings, show)
    chunks = workspace.collection.count()
    print(f"{bench.name}: {len(bench.queries)} judged queries ({args.qrels or f'split {args.split}'}), "
          f"{documents} documents in {chunks} chunks, collection '{name}' "
          f"({report.chunks_added} chunks embedded now)", file=sys.stderr)
    fusion = FusionSettings()
    modes = MODES if args.mode == "all" else (args.mode,)
    rows = evaluate(workspace.collection, workspace.embedder, bench, modes, fusion,
                    chunks_per_document=chunks / max(documents, 1))
    print(f"{workspace.embedder.name}; hybrid = {fusion.method} fusion, weight {fusion.weight}, "
          f"depth {fusion.depth}" + (f", rrf_k {fusion.rrf_k}" if fusion.method == "rrf" else ""))
    print("| mode | nDCG@10 | recall@10 | recall@100 | MRR@10 | ms/query |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        s = row.scores
        print(f"| {row.mode} | {s.ndcg_10:.4f} | {s.recall_10:.4f} | {s.recall_100:.4f} | {s.mrr_10:.4f} | "
              f"{1000 * row.seconds / s.queries:.1f} |")
    best = max(rows, key=lambda row: row.scores.ndcg_10)
    print(f"nDCG@10 {best.scores.ndcg_10:.4f}")
    return 0
