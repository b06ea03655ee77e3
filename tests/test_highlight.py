"""core/highlight.py: query terms and chunk boundaries marked as plain-text segments."""
from __future__ import annotations

from core.chunking import chunk_document
from core.highlight import Segment, chunk_segments, numbered_chunk_segments, query_segments
from core.types import Chunk, ChunkSettings, Document
from ui import segments_html


def marked(segments: list[Segment], mark: str) -> list[str]:
    return [s.text for s in segments if s.mark == mark]


def test_query_terms_match_by_stem_and_skip_stopwords():
    text = "She studied the studies of a Study group, and the students left."
    segments = query_segments(text, "the study")
    assert "".join(s.text for s in segments) == text  # nothing added or lost
    assert marked(segments, "term") == ["studied", "studies", "Study"]  # "the" is a stopword, "students" another stem


def test_query_without_terms_marks_nothing():
    assert query_segments("the cat", "the of and") == [Segment("the cat")]
    assert query_segments("", "cat") == []


def test_chunk_segments_cover_the_text_and_mark_overlaps():
    text = "one two three four five six seven eight nine ten " * 3
    doc = Document(text=text, source="a.txt", content_hash="h" * 64, offset=1000)
    chunks = chunk_document(doc, ChunkSettings("sliding", 40, 15, "chars"))
    segments = chunk_segments(text, chunks, offset=1000)
    assert "".join(s.text for s in segments) == text
    overlaps = marked(segments, "overlap")
    assert overlaps, "overlapping sliding windows must show shared text"
    for a, b in zip(chunks, chunks[1:]):
        if b.start < a.end:
            assert text[b.start - 1000:a.end - 1000].strip() in " ".join(overlaps)
    assert {s.mark for s in segments} >= {"chunk-0", "chunk-1"}


def test_chunks_without_overlap_alternate():
    text = "alpha beta\n\ngamma delta\n\nepsilon"
    doc = Document(text=text, source="b.md", content_hash="k" * 64)
    chunks = chunk_document(doc, ChunkSettings("paragraph", 12, 0, "chars"))
    segments = chunk_segments(text, chunks)
    assert [s.mark for s in segments if s.mark] == [f"chunk-{n}" for n in range(len(chunks))]
    assert marked(segments, "chunk-1") == [chunks[1].text]


def test_html_escapes_document_text():
    hostile = '<script>window.__pwned=1</script> ![x](http://127.0.0.1:9/x.png) <img src=x onerror=alert(1)>'
    html = segments_html(query_segments(hostile, "script window"))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert '<span class="term"' in html  # our own markup survives


def test_numbered_chunk_segments_label_each_chunk_where_it_starts():
    text = "aaaa bbbb cccc"
    chunks = [Chunk("1", "aaaa", "s", 0, 4, 0), Chunk("2", "bbbb cccc", "s", 5, 14, 1)]
    segments = numbered_chunk_segments(text, chunks, 0, over_limit={1}, tokens=(3, 300))
    assert segments == [Segment("#1", "label"), Segment("aaaa", "chunk-0"), Segment(" ", ""),
                        Segment("#2: 300 tokens", "over-limit"), Segment("bbbb cccc", "chunk-1")]
    assert "".join(s.text for s in segments if s.mark not in ("label", "over-limit")) == text
