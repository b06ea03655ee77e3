"""Which parts of a text to mark: query terms in a search result, chunk
boundaries and overlaps in a chunking preview.

The answer is a list of `Segment`s (plain text + a mark), never markup: the
page decides how to draw them, and escapes the text when it does, so a document
holding HTML or Markdown is shown as the characters it is, not run.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import AbstractSet as Set, Sequence

from .keyword import Analyzer, BM25Settings
from .types import Chunk

WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Segment:
    """A run of text and how to mark it: "" (plain), "term" (matches the query), "answer" (quoted by an answer),
    "chunk-N" (inside chunk N only) or "overlap" (shared by two neighbouring chunks)."""

    text: str
    mark: str = ""


def _merged(text: str, marked: Sequence[tuple[int, int, str]]) -> list[Segment]:
    """`text` cut into segments at the given non-overlapping, ordered (start, end, mark) spans."""
    segments: list[Segment] = []
    position = 0
    for start, end, mark in marked:
        if start > position:
            segments.append(Segment(text[position:start]))
        if segments and segments[-1].mark == mark and start == position:
            segments[-1] = Segment(segments[-1].text + text[start:end], mark)
        else:
            segments.append(Segment(text[start:end], mark))
        position = end
    if position < len(text):
        segments.append(Segment(text[position:]))
    return segments


def query_segments(text: str, query: str, settings: BM25Settings = BM25Settings()) -> list[Segment]:
    """`text` with every word marked "term" whose keyword-index term (lower-cased,
    stemmed, stopwords dropped) is one of the query's, so "studies" lights up for "study"
    exactly where BM25 would have matched it."""
    analyzer = Analyzer(settings)
    wanted = set(analyzer.terms(query))
    if not wanted:
        return [Segment(text)] if text else []
    marked = [(m.start(), m.end(), "term") for m in WORD.finditer(text)
              if (terms := analyzer.terms(m.group())) and terms[0] in wanted]
    return _merged(text, marked)


def quote_segments(text: str, spans: Sequence[tuple[int, int]]) -> list[Segment]:
    """`text` with the given (start, end) spans (the sentences an answer quotes) marked "answer"."""
    return _merged(text, [(start, end, "answer") for start, end in sorted(spans)])


def chunk_segments(text: str, chunks: Sequence[Chunk], offset: int = 0) -> list[Segment]:
    """`text` (a document starting at character `offset`) marked by chunk: each run
    covered by one chunk gets "chunk-N" (N its position in `chunks`), a run two or more
    chunks share gets "overlap", and text no chunk holds (trimmed whitespace) stays plain.

    One sweep over the chunk boundaries; `chunks` come in document order and none
    lies inside another (the chunker drops such chunks), so a run held by one chunk
    is held by the last one that started before it.
    """
    opened: dict[int, list[int]] = {}
    closed: dict[int, int] = {}
    for n, chunk in enumerate(chunks):
        start = min(max(chunk.start - offset, 0), len(text))
        end = min(max(chunk.end - offset, 0), len(text))
        if start < end:
            opened.setdefault(start, []).append(n)
            closed[end] = closed.get(end, 0) + 1
    cuts = sorted({0, len(text), *opened, *closed})
    marked: list[tuple[int, int, str]] = []
    holding, latest = 0, -1
    for start, end in zip(cuts, cuts[1:]):
        holding += len(opened.get(start, ())) - closed.get(start, 0)
        latest = max(opened.get(start, [latest]))
        if holding:
            marked.append((start, end, "overlap" if holding > 1 else f"chunk-{latest}"))
    return _merged(text, marked)


def numbered_chunk_segments(text: str, chunks: Sequence[Chunk], offset: int = 0, over_limit: Set[int] = frozenset(),
                            tokens: Sequence[int] = ()) -> list[Segment]:
    """`chunk_segments`, with a label where each chunk starts: "#N" (1-based, mark "label"), or
    "#N: T tokens" (mark "over-limit") for the chunks in `over_limit` (positions in `chunks`). The labels
    are the only text not from `text`, and they are segments of their own, drawn apart from it."""
    starts: dict[int, list[int]] = {}
    for n, chunk in enumerate(chunks):
        starts.setdefault(min(max(chunk.start - offset, 0), len(text)), []).append(n)

    def labels(position: int) -> list[Segment]:
        return [Segment(f"#{n + 1}: {tokens[n]} tokens", "over-limit") if n in over_limit and n < len(tokens)
                else Segment(f"#{n + 1}", "label") for n in starts.get(position, ())]

    out: list[Segment] = []
    position = 0
    for segment in chunk_segments(text, chunks, offset):
        end = position + len(segment.text)
        cuts = [p for p in sorted(starts) if position <= p < end]
        last = position
        for cut in cuts:
            if cut > last:
                out.append(Segment(text[last:cut], segment.mark))
            out += labels(cut)
            last = cut
        out.append(Segment(text[last:end], segment.mark))
        position = end
    return [s for s in out if s.text]
