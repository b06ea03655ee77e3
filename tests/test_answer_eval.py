"""core.answer_eval on the samples' labelled questions: the set is sound, and the offline answer
quotes the gold span first for enough of them (bench/bench_answers.py prints the full table)."""
from __future__ import annotations

import pytest

from core.answer_eval import AnswerCase, AnswerOutcome, answer_cases, load_answer_cases, rates
from core.samples import ANSWER_QUESTIONS, EXAMPLE_QUESTIONS, samples
from core.workspace import open_workspace

CASES = load_answer_cases(ANSWER_QUESTIONS)
TARGET = 0.75  # issue 24: the first quoted sentence holds the gold span for at least this share
# Just under what this release measures (0.51 first sentence = 25 of 49, 0.65 any of three;
# bench/results/answers.md): one question of slack, so a change that answers fewer questions fails here
# even while the target is not reached.
FLOOR = 0.48


def test_the_question_set_is_labelled_from_the_texts():
    texts = {s.path.name: " ".join(s.path.read_text(encoding="utf-8").split()) for s in samples()}
    assert len(CASES) >= 40
    assert {c.kind for c in CASES} == {"who", "what", "where", "how many", "how-to"}
    assert {c.source for c in CASES} == set(texts)
    assert {c.split for c in CASES} == {"tune", "held-out"}
    for case in CASES:
        assert " ".join(case.answer.split()) in texts[case.source], case  # copied, not paraphrased
    assert set(EXAMPLE_QUESTIONS) <= {c.question for c in CASES}


def test_a_span_counts_with_whitespace_collapsed_and_only_where_it_is_quoted():
    case = AnswerCase("Q?", "f.txt", "what", "four or five\n  thousand a year", "tune")
    assert AnswerOutcome(case, ("He has four or five thousand a year.", "x")).first
    outcome = AnswerOutcome(case, ("Another sentence.", "He has four or five thousand a year."))
    assert not outcome.first and outcome.any
    assert not AnswerOutcome(case, ()).any
    assert AnswerOutcome(case, ("Four or five thousand a year, at least.",)).first  # a capital opening a sentence
    assert rates([AnswerOutcome(case, ("four or five thousand a year",)), outcome]) == (0.5, 1.0)


@pytest.fixture(scope="module")
def outcomes(full_sample_store):
    return answer_cases(open_workspace(full_sample_store, "samples"), CASES)


def test_the_example_questions_are_answered_first(outcomes):
    for outcome in outcomes:
        if outcome.case.question in EXAMPLE_QUESTIONS:
            assert outcome.first, (outcome.case, outcome.quotes)


def test_the_first_sentence_rate_does_not_fall(outcomes):
    first, any_of_three = rates(outcomes)
    assert first >= FLOOR and any_of_three >= first


@pytest.mark.xfail(strict=True, reason="measured 0.51 (bench/results/answers.md): the offline answerer does not "
                                       "reach issue 24's 0.75 yet; strict, so reaching it makes this fail until "
                                       "the mark is removed")
def test_the_first_quoted_sentence_holds_the_answer_for_three_quarters(outcomes):
    first, _ = rates(outcomes)
    assert first >= TARGET, f"first quoted sentence holds the gold span for {first:.2f} of {len(outcomes)}"
