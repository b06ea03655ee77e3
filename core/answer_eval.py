"""How often the offline (extractive) answer quotes the answer: questions with gold answer spans.

Each case is a question and a span copied from the document that answers it
(`data/samples/answer_questions.jsonl` for the samples). An answer counts at the
first sentence when its first quoted sentence holds the span, and among three when
any quoted sentence does; spans and quotes are compared with whitespace collapsed,
since the documents wrap their lines, and case ignored, since the same words open a
sentence elsewhere ("Five daughters ..." answers as well as "her five daughters"). The answer is the one the app and the CLI
give (`core.rag.answer`, no language model).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .rag import answer
from .workspace import Workspace


@dataclass(frozen=True)
class AnswerCase:
    question: str
    source: str  # the file that answers it
    kind: str  # who / what / where / how many / how-to, as labelled
    answer: str  # the gold span, copied from the file
    split: str  # "tune" (looked at while tuning the answerer) or "held-out" (never)


@dataclass(frozen=True)
class AnswerOutcome:
    case: AnswerCase
    quotes: tuple[str, ...]  # the quoted sentences, best first

    @property
    def first(self) -> bool:
        return bool(self.quotes) and _flat(self.case.answer) in _flat(self.quotes[0])

    @property
    def any(self) -> bool:
        return any(_flat(self.case.answer) in _flat(q) for q in self.quotes)


def _flat(text: str) -> str:
    return " ".join(text.split()).lower()


def load_answer_cases(path: Path) -> list[AnswerCase]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [AnswerCase(r["question"], r["source"], r["type"], r["answer"], r["split"]) for r in rows]


def answer_cases(workspace: Workspace, cases: Sequence[AnswerCase],
                 on_answer: Callable[[AnswerOutcome], None] = lambda _: None) -> list[AnswerOutcome]:
    """Ask every case offline; `on_answer` sees each outcome as it comes (for progress)."""
    outcomes = []
    for case in cases:
        outcome = AnswerOutcome(case, tuple(q.text for q in answer(case.question, workspace).quotes))
        on_answer(outcome)
        outcomes.append(outcome)
    return outcomes


def rates(outcomes: Sequence[AnswerOutcome]) -> tuple[float, float]:
    """Share answered at the first quoted sentence, and within the three quoted."""
    n = max(len(outcomes), 1)
    return sum(o.first for o in outcomes) / n, sum(o.any for o in outcomes) / n
