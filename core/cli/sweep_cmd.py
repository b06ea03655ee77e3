"""`python -m core sweep --beir DIR --chunkers recursive:128:0,...`: nDCG@10 and recall@k per chunk setting."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import DEFAULT_EMBEDDER
from ..embedders import get_embedder
from ..evaluation import load_beir
from ..search import MODES
from ..stores import open_store
from ..sweep import SWEEP_STORE_DIR, beir_corpus, beir_questions, beir_subset, parse_setting, run_sweep
from ..workspace import no_empty_leftovers
from .common import add_beir_options, add_k_option, checked_store_url, whole_number
from .ingest import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="compare chunk settings on a BEIR benchmark",
                       description="Ingest a BEIR corpus once per chunk setting (each into a collection of its own "
                                   "in a scratch store, reused on the next run), run the judged queries and print "
                                   "document-level nDCG@10 and recall@k per setting. --max-queries/--max-docs "
                                   "take a subset: the first queries, every document judged for them, then other "
                                   "documents in corpus order.")
    add_beir_options(p)
    p.add_argument("--max-queries", type=whole_number(1), default=None, help="use only the first N judged queries")
    p.add_argument("--max-docs", type=whole_number(1), default=None,
                   help="corpus subset of N documents: those judged for the queries kept, then others")
    p.add_argument("--chunkers", default="whole,recursive:256:0,recursive:128:0",
                   help="comma-separated settings, each method:size:overlap[:unit] (unit tokens unless given) "
                        "or 'whole' (one chunk per document); default %(default)s")
    p.add_argument("--mode", choices=MODES, default="hybrid", help="search mode (default hybrid)")
    add_k_option(p, 10, "recall@k")
    p.add_argument("--embedder", default=DEFAULT_EMBEDDER, help=f"embedding model (default {DEFAULT_EMBEDDER})")
    p.add_argument("--scratch", type=Path, default=SWEEP_STORE_DIR,
                   help="Chroma folder for the per-setting collections (default data/cache/sweeps)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = [parse_setting(spec) for spec in args.chunkers.split(",") if spec.strip()]
    if args.max_queries or args.max_docs:
        with progress_bar("subset") as show:  # a pass over the whole corpus
            bench = beir_subset(args.beir, args.split, args.max_queries or 10**9, args.max_docs or 10**9,
                                args.scratch / "subsets", show)
    else:
        bench = load_beir(args.beir, args.split)
    corpus, questions = beir_corpus(bench), beir_questions(bench)
    embedder = get_embedder(args.embedder)
    print(f"{bench.name}: {len(questions.queries)} judged queries (split {args.split}), {corpus.documents} "
          f"documents; {embedder.name}, {args.mode} search", file=sys.stderr)
    store = open_store(checked_store_url(str(args.scratch)))
    with progress_bar("sweep") as show, no_empty_leftovers(store):
        rows = run_sweep(store, corpus, questions, embedder, settings, args.mode, args.k,
                         show, results_dir=args.scratch / "results")
    print(f"| setting | chunks | nDCG@10 | recall@{args.k} | embedded now | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row.setting} | {row.chunks} | {row.ndcg_10:.4f} | {row.recall_k:.4f} | {row.embedded_now} | "
              f"{row.seconds:.0f} |")
    return 0
