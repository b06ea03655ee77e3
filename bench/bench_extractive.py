"""Offline (extractive) answers on SciFact claims: does the answer cite a judged-relevant abstract?

Each judged claim of a split is asked as a question with no language model; the
answer quotes the 3 best sentences of the retrieved abstracts, each with its [n].
Printed side by side, on the same retrieved chunks (one chunk per abstract, hybrid
search, as many as the extractive reader reads):

- best sentence: share of answers whose best-scored sentence cites a judged-relevant abstract;
- any: share of answers in which at least one of the 3 citations is a judged-relevant abstract;
- citation precision: share of the distinct abstracts cited that are judged relevant;
- scorers: ours (`core.rag`: cosine, question-term coverage, answer type, passage rank), cosine
  alone, and "top chunk" (citing the first retrieved chunk: chunk rank alone).

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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line  # noqa: E402

import core.rag as rag  # noqa: E402
from core.config import DATA_DIR  # noqa: E402
from core.evaluation import DOC_ID, ingest_benchmark  # noqa: E402
from core.rag import EXTRACT_SENTENCES, EXTRACTIVE_READ, Citation, ranked_sentences  # noqa: E402
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
    weights = ("SENTENCE_VECTOR_WEIGHT", "SENTENCE_TERM_WEIGHT", "SENTENCE_TYPE_WEIGHT", "SENTENCE_PASSAGE_WEIGHT")
    ours = tuple(getattr(rag, w) for w in weights)
    scorers = {"ours (cosine, terms, answer type, passage rank)": ours, "cosine alone": (1.0, 0.0, 0.0, 0.0)}
    names = [*scorers, "top chunk"]
    best_ok, any_ok = dict.fromkeys(names, 0), dict.fromkeys(names, 0)
    cited, relevant_cited = dict.fromkeys(names, 0), dict.fromkeys(names, 0)
    started = time.perf_counter()
    for query_id, claim in bench.queries.items():
        judged = {d for d, grade in bench.qrels[query_id].items() if grade > 0}
        results = search(workspace.collection, workspace.embedder, claim, mode=DEFAULT_MODE, k=EXTRACTIVE_READ)
        context = [Citation(n=r.rank, chunk_id=r.id, source="", category="", text=r.text) for r in results]
        doc_of = {r.rank: str(r.metadata[DOC_ID]) for r in results}
        picks = {"top chunk": [1] * EXTRACT_SENTENCES if results else []}  # citing chunk rank alone
        for name, weight in scorers.items():
            for name_, value in zip(weights, weight):
                setattr(rag, name_, value)
            ranked, _ = ranked_sentences(claim, context, workspace.embedder)
            picks[name] = [q.n for q in ranked[:EXTRACT_SENTENCES]]  # best first
        for name, ns in picks.items():
            docs = [doc_of[n] for n in ns]
            best_ok[name] += bool(docs) and docs[0] in judged
            any_ok[name] += any(d in judged for d in docs)
            cited[name] += len(set(docs))
            relevant_cited[name] += len(set(docs) & judged)
    answer_s = time.perf_counter() - started
    for name_, value in zip(weights, ours):
        setattr(rag, name_, value)

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
