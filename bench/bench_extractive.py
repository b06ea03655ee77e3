"""Offline (extractive) answers on SciFact claims: does the answer cite a judged-relevant abstract?

Each judged claim of a split is asked as a question with no language model; the
answer quotes the 3 best sentences of the retrieved abstracts, each with its [n].
Printed side by side, on the same retrieved chunks (one chunk per abstract, hybrid
search, as many as the extractive reader reads):

- best sentence: share of answers whose best-scored sentence cites a judged-relevant abstract;
- any: share of answers in which at least one of the 3 citations is a judged-relevant abstract;
- citation precision: share of the distinct abstracts cited that are judged relevant;
- scorers: ours (`core.rag.sentence_features` weighted by FEATURE_WEIGHTS), cosine alone, and
  "top chunk" (citing the first retrieved chunk: chunk rank alone). The sentences are those of the
  retrieved chunks (`core.rag.context_index`), so every scorer picks among the same ones.

A subset (--max-queries claims, every abstract judged for them, then others up to
--max-docs) keeps the run short; the collection lives in a scratch store under
data/cache/bench and is reused.

    .venv/bin/python bench/bench_extractive.py [--scifact ../shared/eval/scifact] [--max-queries 100]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line  # noqa: E402

import core.rag as rag  # noqa: E402
from core.config import DATA_DIR  # noqa: E402
from core.evaluation import DOC_ID, ingest_benchmark  # noqa: E402
from core.rag import (EXTRACT_SENTENCES, EXTRACTIVE_READ, FEATURES, Citation, context_index,  # noqa: E402
                      ranked_sentences)
from core.search import DEFAULT_MODE, search  # noqa: E402
from core.sweep import beir_subset  # noqa: E402
from core.workspace import open_workspace  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = DATA_DIR / "cache" / "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scifact", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact")
    parser.add_argument("--split", default="train")
    parser.add_argument("--max-queries", type=int, default=100)
    parser.add_argument("--max-docs", type=int, default=1000)
    args = parser.parse_args()

    bench = beir_subset(args.scifact, args.split, args.max_queries, args.max_docs, SCRATCH / "subsets")
    workspace = open_workspace(str(SCRATCH / "store"), f"extractive-{bench.folder.name}"[:60], create=True)
    started = time.perf_counter()
    ingest_benchmark(bench, workspace.collection, workspace.embedder)
    ingest_s = time.perf_counter() - started
    ours = rag.FEATURE_WEIGHTS
    scorers = {"ours (core.rag.FEATURES, weighted)": ours,
               "cosine alone": (np.array(FEATURES) == "cosine").astype(float)}
    names = [*scorers, "top chunk"]
    best_ok, any_ok = dict.fromkeys(names, 0), dict.fromkeys(names, 0)
    cited, relevant_cited = dict.fromkeys(names, 0), dict.fromkeys(names, 0)
    started = time.perf_counter()
    for query_id, claim in bench.queries.items():
        judged = {d for d, grade in bench.qrels[query_id].items() if grade > 0}
        results = search(workspace.collection, workspace.embedder, claim, mode=DEFAULT_MODE, k=EXTRACTIVE_READ)
        context = [Citation(n=r.rank, chunk_id=r.id, source="", category="", text=r.text) for r in results]
        doc_of = {r.id: str(r.metadata[DOC_ID]) for r in results}
        index = context_index(context, workspace.embedder)
        picks = {"top chunk": [results[0].id] * EXTRACT_SENTENCES if results else []}  # citing chunk rank alone
        for name, weights in scorers.items():
            rag.FEATURE_WEIGHTS = weights
            ranking = ranked_sentences(claim, index, workspace.embedder, retrieved={c.chunk_id: c.n for c in context})
            picks[name] = [index.chunks[index.chunk_of[s.row]].id for s in ranking.sentences[:EXTRACT_SENTENCES]]
        for name, chunk_ids in picks.items():
            docs = [doc_of[i] for i in chunk_ids]
            best_ok[name] += bool(docs) and docs[0] in judged
            any_ok[name] += any(d in judged for d in docs)
            cited[name] += len(set(docs))
            relevant_cited[name] += len(set(docs) & judged)
    answer_s = time.perf_counter() - started
    rag.FEATURE_WEIGHTS = ours

    n = len(bench.queries)
    print(machine_line())
    print(f"SciFact {args.split}: {n} judged claims, {workspace.collection.count()} abstracts (judged ones first, "
          f"then others), one chunk each; hybrid search, {EXTRACTIVE_READ} chunks read per answer, "
          f"3 sentences quoted; ingest {ingest_s:.0f} s, answering {answer_s / max(n, 1):.2f} s per claim "
          f"(every scorer)\n")
    print("| scorer | best sentence cites a relevant abstract | any of the 3 citations relevant | "
          "citation precision |")
    print("|---|---:|---:|---:|")
    for name in names:
        print(f"| {name} | {best_ok[name] / n:.3f} | {any_ok[name] / n:.3f} | "
              f"{relevant_cited[name] / max(cited[name], 1):.3f} |")
    ours = names[0]
    print(f"\nextractive: best_cites_relevant={best_ok[ours] / n:.3f} any_relevant={any_ok[ours] / n:.3f} claims={n}")


if __name__ == "__main__":
    main()
