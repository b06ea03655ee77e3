"""Offline (extractive) answers on the samples' labelled questions: is the gold span quoted?

data/samples/answer_questions.jsonl holds 49 questions about the two novels and the CommonMark
spec, each with a span copied from the text that answers it, written before the answerer was
tuned; every fourth is held out (never looked at while tuning). Printed: the share whose first
quoted sentence holds the span and the share where one of the 3 quoted sentences does, per
split and per question type, and every question's outcome; then how many of the labelled questions
(all answerable) and of a few questions the samples cannot answer get "no passage answers".
The sentence index is read or built before the questions are timed, and its time printed apart.

    .venv/bin/python bench/bench_answers.py [--store data/cache/bench/answers-store] [--cold]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line  # noqa: E402

from core.answer_eval import answer_cases, load_answer_cases, rates  # noqa: E402
from core.rag import NO_ANSWER, answer  # noqa: E402
from core.sentence_index import build_sentence_index, sentence_index  # noqa: E402
from core.config import DATA_DIR, SAMPLE_COLLECTION  # noqa: E402
from core.samples import ANSWER_QUESTIONS, ensure_samples  # noqa: E402
from core.workspace import open_workspace  # noqa: E402


# Questions no sample answers: the answer should say so rather than quote a near miss.
OUT_OF_SCOPE = ("What is the capital of France?", "What is the speed of light?", "How do I install Python on Windows?",
                "What is the boiling point of water?", "Who won the 2018 World Cup?", "How do I bake bread?",
                "What is the GDP of Japan?", "Who wrote Hamlet?", "How many moons does Jupiter have?",
                "Where is the Eiffel Tower?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default=str(DATA_DIR / "cache" / "bench" / "answers-store"))
    parser.add_argument("--cold", action="store_true", help="also time building the sentence index from nothing "
                        "(every sentence embedded, no cache): what the first question of a new collection costs")
    args = parser.parse_args()
    workspace = open_workspace(args.store, SAMPLE_COLLECTION, create=True)
    ensure_samples(workspace.store, workspace.embedder)
    cases = load_answer_cases(ANSWER_QUESTIONS)
    started = time.perf_counter()
    index = sentence_index(workspace.collection, workspace.embedder, workspace.store.url)
    index_s = time.perf_counter() - started
    cold = ""
    if args.cold:
        started = time.perf_counter()
        chunks = workspace.collection.get()
        build_sentence_index(chunks.ids, chunks.texts, chunks.metadatas, workspace.embedder, cache=None)
        cold = f"; built from nothing (every sentence embedded) in {time.perf_counter() - started:.0f} s"
    started = time.perf_counter()
    outcomes = answer_cases(workspace, cases)
    seconds = (time.perf_counter() - started) / max(len(cases), 1)

    print(machine_line())
    print(f"{len(cases)} questions about the samples, extractive answers (no language model), "
          f"{seconds:.2f} s per question; the sentence index ({len(index)} sentences of {len(index.chunks)} chunks) "
          f"was ready in {index_s:.1f} s (built on a collection version's first question, then read from disk){cold}\n")
    groups = defaultdict(list)
    for o in outcomes:
        groups["all"].append(o)
        groups[f"split: {o.case.split}"].append(o)
        groups[f"type: {o.case.kind}"].append(o)
    print("| questions | n | first quoted sentence holds the answer | one of the 3 quoted sentences does |")
    print("|---|---:|---:|---:|")
    for name, group in groups.items():
        first, any_of_three = rates(group)
        print(f"| {name} | {len(group)} | {first:.2f} | {any_of_three:.2f} |")
    print("\n| question | split | answer span | first | any of 3 |")
    print("|---|---|---|:-:|:-:|")
    for o in outcomes:
        print(f"| {o.case.question} | {o.case.split} | {o.case.answer.replace('|', '&#124;')} | "
              f"{'yes' if o.first else ''} | {'yes' if o.any else ''} |")
    refused = sum(not o.quotes for o in outcomes)
    unanswerable = [q for q in OUT_OF_SCOPE if answer(q, workspace).text == NO_ANSWER]
    print(f"\n\"No passage answers\": {refused} of the {len(outcomes)} labelled questions; {len(unanswerable)} of "
          f"{len(OUT_OF_SCOPE)} questions the samples cannot answer ({'; '.join(OUT_OF_SCOPE)})")
    first, any_of_three = rates(outcomes)
    print(f"\nanswers: first_sentence={first:.3f} any_of_three={any_of_three:.3f} questions={len(cases)}")


if __name__ == "__main__":
    main()
