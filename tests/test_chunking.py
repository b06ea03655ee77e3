"""Chunking on the real long documents: exact spans, size limits, structure, overlap, ids, streaming."""
from __future__ import annotations

import re
from itertools import islice

import pytest
from tokenizers import Tokenizer

from conftest import LONG_DOCS, ROOT, SCIFACT
from core.chunking import chunk_document, chunk_documents, overlaps, validate
from core.errors import ExplorerError
from core.loaders import load_bytes, load_path
from core.types import Chunk, ChunkSettings, Document

TOKENIZER = ROOT / "data" / "models" / "all-MiniLM-L6-v2" / "tokenizer.json"
BOOKS = ["pg1342_pride_and_prejudice.txt", "pg84_frankenstein.txt", "commonmark_spec.txt"]
SPEC = LONG_DOCS / "commonmark_spec.txt"
TRIMMED = " \t\n\r\f\v\u00a0\ufeff"
ID = re.compile(r"^v3-[0-9a-f]{32}-\d{6}$")

SETTINGS = [
    ChunkSettings("recursive", 200, 0, "tokens"),
    ChunkSettings("recursive", 256, 48, "tokens"),
    ChunkSettings("recursive", 1000, 150, "chars"),
    ChunkSettings("paragraph", 150, 0, "words"),
    ChunkSettings("paragraph", 128, 32, "tokens"),
    ChunkSettings("sliding", 150, 30, "words"),
    ChunkSettings("sliding", 600, 100, "chars"),
    ChunkSettings("fixed", 800, 100, "chars"),
    ChunkSettings("fixed", 100, 20, "tokens"),
]


@pytest.fixture(scope="session")
def count_tokens():
    """MiniLM's own tokenizer, special tokens included, nothing truncated."""
    tokenizer = Tokenizer.from_file(str(TOKENIZER))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return lambda texts: [len(e.ids) for e in tokenizer.encode_batch(list(texts))]


def sizes(chunks: list[Chunk], unit: str, count_tokens) -> list[int]:
    texts = [c.text for c in chunks]
    if unit == "tokens":
        return count_tokens(texts)
    return [len(t.split()) for t in texts] if unit == "words" else [len(t) for t in texts]


def assert_exact_and_complete(text: str, chunks: list[Chunk]) -> None:
    """Every chunk is its span of the text, trimmed; together they leave out nothing but whitespace."""
    covered = 0
    for n, chunk in enumerate(chunks):
        assert text[chunk.start:chunk.end] == chunk.text, f"chunk {n} is not its span"
        assert chunk.text and chunk.text == chunk.text.strip(TRIMMED)
        assert chunk.start >= (chunks[n - 1].start + 1 if n else 0), "chunks go forward"
        assert not text[covered:chunk.start].strip(TRIMMED), f"text lost before chunk {n}"
        covered = max(covered, chunk.end)
    assert not text[covered:].strip(TRIMMED), "text lost at the end"


# -- every method on every long document ---------------------------------------------------------

@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: s.key())
@pytest.mark.parametrize("book", BOOKS)
def test_spans_sizes_and_metadata_on_long_documents(book, settings, count_tokens):
    path = LONG_DOCS / book
    text = path.read_text(encoding="utf-8")
    chunks = list(chunk_documents(load_path(path, source=book, category="book"), settings,
                                  count_tokens=count_tokens))
    assert_exact_and_complete(text, chunks)

    measured = sizes(chunks, settings.unit, count_tokens)
    assert max(measured) <= settings.size
    # Packing fills chunks: no splitter that makes crumbs passes this.
    assert sum(measured) / len(measured) >= 0.45 * settings.size

    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert len({c.id for c in chunks}) == len(chunks) and all(ID.match(c.id) for c in chunks)
    doc_hash = chunks[0].metadata["document"]
    for chunk in chunks:
        assert chunk.source == book
        assert chunk.metadata == {"category": "book", "source": book, "document": doc_hash,
                                  "chunking": settings.key(), "index": chunk.index,
                                  "start": chunk.start, "end": chunk.end}


def test_token_counting_is_batched(count_tokens):
    calls: list[int] = []

    def counting(texts):
        calls.append(len(texts))
        return count_tokens(texts)

    settings = ChunkSettings("recursive", 200, 0, "tokens")
    chunks = list(chunk_documents(load_path(LONG_DOCS / BOOKS[0]), settings, count_tokens=counting))
    assert len(calls) < len(chunks) / 2, f"{len(calls)} tokenizer calls for {len(chunks)} chunks"
    assert max(calls) > 1000  # the paragraphs of the book are counted in one go


# -- structure ------------------------------------------------------------------------------------

def spec_headings(text: str) -> list[int]:
    """Offsets of the spec's own ATX headings: "#" lines outside its fenced examples
    (a fence closes on a line of at least as many backticks and nothing else)."""
    headings, fence = [], ""
    for match in re.finditer(r"^.*$", text, re.MULTILINE):
        line = match.group()
        ticks = re.match(r"`{3,}", line)
        if not fence and ticks:
            fence = ticks.group()
        elif fence and ticks and len(ticks.group()) >= len(fence) and not line.strip("`").strip():
            fence = ""
        elif not fence and re.match(r"#{1,6} ", line):
            headings.append(match.start())
    return headings


def test_recursive_splitter_cuts_the_commonmark_spec_at_headings_and_paragraphs(count_tokens):
    text = SPEC.read_text(encoding="utf-8")
    headings = spec_headings(text)
    assert len(headings) > 40
    paragraph_starts = {0, *headings, *(m.end() for m in re.finditer(r"\n[ \t]*\n", text))}

    def profile(method: str) -> tuple[float, float]:
        settings = ChunkSettings(method, 200, 0, "tokens")
        chunks = list(chunk_documents(load_path(SPEC), settings, count_tokens=count_tokens))
        starts = {c.start for c in chunks}
        at_heading = sum(h in starts for h in headings) / len(headings)
        at_paragraph = sum(c.start in paragraph_starts for c in chunks) / len(chunks)
        return at_heading, at_paragraph

    heading_share, paragraph_share = profile("recursive")
    assert heading_share >= 0.9, "almost every section starts a chunk"
    assert paragraph_share >= 0.6  # the rest are cuts inside long code examples
    # The paragraph splitter, blind to headings, starts chunks at paragraphs but rarely at a heading.
    assert profile("paragraph")[0] < 0.3
    # A sliding window respects neither.
    sliding = list(chunk_documents(load_path(SPEC), ChunkSettings("sliding", 150, 0, "words")))
    assert sum(c.start in paragraph_starts for c in sliding) / len(sliding) < 0.2


def test_headings_inside_fenced_code_are_not_headings():
    text = ("# Section A\n\nFirst paragraph of section A.\n\n```\n# fake heading\nprint('code')\n```\n\n"
            "Last paragraph of section A.\n\nSetext heading\n--------------\n\nBody of the setext section.\n")
    doc = Document(text=text, source="x.md", content_hash="0" * 64)
    chunks = chunk_document(doc, ChunkSettings("recursive", 60, 0, "chars"))
    # Section A is too long, so it is cut at its blank lines; had "# fake heading"
    # counted as a heading, a chunk would start there.
    assert [c.text.splitlines()[0] for c in chunks] == [
        "# Section A", "```", "Last paragraph of section A.", "Setext heading"]
    assert_exact_and_complete(text, chunks)


def test_paragraphs_are_merged_and_an_oversize_one_is_split():
    long_paragraph = " ".join(f"Sentence number {n} goes here." for n in range(40))
    text = f"Short one.\n\nShort two.\n\n{long_paragraph}\n\nShort three."
    doc = Document(text=text, source="p.txt", content_hash="1" * 64)
    chunks = chunk_document(doc, ChunkSettings("paragraph", 50, 0, "words"))
    assert chunks[0].text == "Short one.\n\nShort two."
    assert chunks[-1].text == "Short three."
    middle = chunks[1:-1]
    assert len(middle) >= 4 and all(c.text.endswith("here.") for c in middle)  # cut at sentence ends
    assert " ".join(c.text for c in middle) == long_paragraph
    assert_exact_and_complete(text, chunks)


def test_byte_order_mark_and_whitespace_are_trimmed_by_the_span():
    text = "\ufeff  Hello world.  \n\n \t Second paragraph here.  \n"
    doc = Document(text=text, source="t.txt", content_hash="2" * 64, offset=1000)
    chunks = chunk_document(doc, ChunkSettings("paragraph", 20, 0, "chars"))
    assert [c.text for c in chunks] == ["Hello world.", "Second paragraph", "here."]
    assert [(c.start, c.end) for c in chunks] == [(1003, 1015), (1022, 1038), (1039, 1044)]
    assert all(text[c.start - 1000:c.end - 1000] == c.text for c in chunks)


def test_a_word_longer_than_the_limit_is_cut_blindly(count_tokens):
    # No whitespace, so no separator; WordPiece splits it at each "-" (a long
    # unbroken word would be a single [UNK] token).
    blob = "-".join(f"part{n}" for n in range(600))
    text = f"Before the blob.\n\n{blob}\n\nAfter the blob."
    doc = Document(text=text, source="b.txt", content_hash="3" * 64)
    settings = ChunkSettings("recursive", 128, 16, "tokens")
    chunks = chunk_document(doc, settings, count_tokens=count_tokens)
    assert_exact_and_complete(text, chunks)
    assert max(sizes(chunks, "tokens", count_tokens)) <= 128
    assert len(chunks) > 10 and overlaps(chunks)


def test_empty_and_whitespace_documents_give_no_chunks(count_tokens):
    for text in ("", "   \n\n\t ", "\ufeff\n"):
        doc = Document(text=text, source="e.txt", content_hash="4" * 64)
        for settings in SETTINGS:
            assert chunk_document(doc, settings, count_tokens=count_tokens) == []


# -- overlap --------------------------------------------------------------------------------------

def test_sliding_window_overlaps_by_exactly_the_requested_words():
    text = (LONG_DOCS / "pg84_frankenstein.txt").read_text(encoding="utf-8")
    chunks = list(chunk_documents(load_path(LONG_DOCS / "pg84_frankenstein.txt"), ChunkSettings("sliding", 120, 30, "words")))
    assert [len(c.text.split()) for c in chunks[:-1]] == [120] * (len(chunks) - 1)
    shared = overlaps(chunks)
    assert len(shared) == len(chunks) - 1
    for (start, end), before, after in zip(shared, chunks, chunks[1:]):
        assert len(text[start:end].split()) == 30
        assert before.text.split()[-30:] == after.text.split()[:30]


def test_fixed_windows_step_by_size_minus_overlap():
    text = (LONG_DOCS / "pg84_frankenstein.txt").read_text(encoding="utf-8")
    chunks = list(chunk_documents(load_path(LONG_DOCS / "pg84_frankenstein.txt"), ChunkSettings("fixed", 500, 100, "chars")))
    windows = [(s, min(s + 500, len(text))) for s in range(0, len(text) - 100, 400)]
    assert len(chunks) == len(windows)
    for chunk, (start, end) in zip(chunks, windows):
        # Each chunk is its window less the whitespace at its ends.
        assert start <= chunk.start and chunk.end <= end
        assert not text[start:chunk.start].strip(TRIMMED) and not text[chunk.end:end].strip(TRIMMED)
    # Consecutive chunks share the 100 characters their windows share, less trimmed whitespace.
    shared = overlaps(chunks)
    assert len(shared) == len(chunks) - 1
    for (start, end), (next_start, _) in zip(shared, windows[1:]):
        assert text[start:end] == text[next_start:next_start + 100].strip(TRIMMED)
    assert sum(end - start == 100 for start, end in shared) > len(shared) / 2


def test_recursive_overlap_repeats_whole_trailing_pieces(count_tokens):
    text = (LONG_DOCS / BOOKS[0]).read_text(encoding="utf-8")
    settings = ChunkSettings("recursive", 128, 32, "tokens")
    chunks = list(chunk_documents(load_path(LONG_DOCS / BOOKS[0]), settings, count_tokens=count_tokens))
    shared = overlaps(chunks)
    assert len(shared) > len(chunks) / 4  # short pieces (dialogue lines, sentences) get carried
    overlap_tokens = count_tokens([text[s:e] for s, e in shared])
    assert max(overlap_tokens) - 2 <= 32  # less MiniLM's [CLS] and [SEP]
    # A carried piece is whole: the overlap starts where a line, sentence or word starts.
    assert all(s == 0 or text[s - 1].isspace() for s, _ in shared)
    without = list(chunk_documents(load_path(LONG_DOCS / BOOKS[0]), ChunkSettings("recursive", 128, 0, "tokens"),
                                   count_tokens=count_tokens))
    assert not overlaps(without) and len(without) < len(chunks)


def test_overlaps_helper():
    def chunk(source: str, start: int, end: int) -> Chunk:
        return Chunk(id=f"{source}{start}", text="x" * (end - start), source=source, start=start, end=end, index=0)

    chunks = [chunk("a", 0, 10), chunk("a", 8, 20), chunk("a", 20, 30), chunk("b", 5, 15), chunk("b", 12, 14)]
    assert overlaps(chunks) == [(8, 10), (12, 14)]


# -- ids ------------------------------------------------------------------------------------------

def test_ids_are_deterministic_and_name_the_document(count_tokens):
    path = LONG_DOCS / BOOKS[1]
    settings = ChunkSettings("recursive", 200, 0, "tokens")
    first = [c.id for c in chunk_documents(load_path(path, source=path.name), settings, count_tokens=count_tokens)]
    again = [c.id for c in chunk_documents(load_bytes(path.name, path.read_bytes()), settings,
                                           count_tokens=count_tokens)]
    assert first == again
    other_settings = [c.id for c in chunk_documents(load_path(path), ChunkSettings("recursive", 200, 20, "tokens"),
                                                    count_tokens=count_tokens)]
    assert not set(first) & set(other_settings)
    edited = path.read_bytes().replace(b"Frankenstein", b"Frankenstien", 1)
    changed = [c.id for c in chunk_documents(load_bytes(path.name, edited), settings, count_tokens=count_tokens)]
    assert not set(first) & set(changed)
    # The same bytes under another name, in another folder, or with another category: another document.
    for other in (load_bytes("copy.txt", path.read_bytes()), load_bytes(path.name, path.read_bytes(), folder="b"),
                  load_bytes(path.name, path.read_bytes(), category="book")):
        assert not set(first) & {c.id for c in chunk_documents(other, settings, count_tokens=count_tokens)}


# -- streaming ------------------------------------------------------------------------------------

def test_large_file_chunks_stream_with_continuous_indexes(tmp_path):
    path = tmp_path / "twelve-megabytes.txt"
    path.write_bytes((LONG_DOCS / BOOKS[0]).read_bytes() * 16)
    text = path.read_text(encoding="utf-8")
    parts = list(load_path(path))
    assert len(parts) >= 4
    settings = ChunkSettings("recursive", 1000, 100, "chars")
    chunks = list(chunk_documents(iter(parts), settings))
    assert_exact_and_complete(text, chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert len({c.id for c in chunks}) == len(chunks)
    assert max(len(c.text) for c in chunks) <= 1000
    # No chunk straddles two parts.
    bounds = [p.offset for p in parts[1:]]
    assert not any(c.start < b < c.end for c in chunks for b in bounds)
    # The 16 copies of the book are cut alike away from the part boundaries.
    book_length = len(text) // 16
    copy = [c.text for c in chunks if book_length * 5 <= c.start < book_length * 6]
    copy_after = [c.text for c in chunks if book_length * 10 <= c.start < book_length * 11]
    assert len(copy) > 500 and copy[100:400] == copy_after[100:400]


def test_parts_of_one_source_are_numbered_as_one_document():
    parts = [Document(text="alpha beta gamma", source="s.txt", content_hash="5" * 64, offset=0),
             Document(text="delta epsilon", source="s.txt", content_hash="5" * 64, offset=16),
             Document(text="zeta eta", source="t.txt", content_hash="6" * 64, offset=0)]
    chunks = list(chunk_documents(parts, ChunkSettings("sliding", 2, 0, "words")))
    assert [(c.source, c.index, c.start, c.text) for c in chunks] == [
        ("s.txt", 0, 0, "alpha beta"), ("s.txt", 1, 11, "gamma"), ("s.txt", 2, 16, "delta epsilon"),
        ("t.txt", 0, 0, "zeta eta")]
    single = chunk_document(parts[1], ChunkSettings("sliding", 2, 0, "words"), start_index=2)
    assert single == [chunks[2]]


def test_scifact_rows_are_chunked_per_document(count_tokens):
    rows = list(islice(load_path(SCIFACT / "corpus.jsonl", source="corpus.jsonl", text_field="title,text",
                                 metadata_fields=("_id",)), 300))
    chunks = list(chunk_documents(rows, ChunkSettings("recursive", 96, 0, "tokens"), count_tokens=count_tokens))
    texts = {row.metadata["row"]: row.text for row in rows}
    assert {c.source for c in chunks} == {"corpus.jsonl"}
    assert {c.metadata["row"] for c in chunks} == set(texts)
    assert len(chunks) > len(rows)  # abstracts run over 96 tokens
    for row_id in texts:
        mine = [c for c in chunks if c.metadata["row"] == row_id]
        assert [c.index for c in mine] == list(range(len(mine)))
        assert_exact_and_complete(texts[row_id], mine)
        assert {c.metadata["_id"] for c in mine} == {row_id}
    assert max(sizes(chunks, "tokens", count_tokens)) <= 96


def test_doc_metadata_is_kept_scalar_only():
    doc = Document(text="Some text.", source="m.txt", content_hash="7" * 64,
                   metadata={"category": "x", "pages": 3, "score": 0.5, "ok": True, "bad": [1, 2]})  # type: ignore[dict-item]
    [chunk] = chunk_document(doc, ChunkSettings("recursive", 100, 0, "chars"))
    assert {k: chunk.metadata[k] for k in ("category", "pages", "score", "ok")} == {
        "category": "x", "pages": 3, "score": 0.5, "ok": True}
    assert "bad" not in chunk.metadata


# -- settings -------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings, message", [
    (ChunkSettings("recursive", 0, 0, "chars"), "size must be"),
    (ChunkSettings("recursive", 100, 100, "chars"), "overlap must be"),
    (ChunkSettings("sliding", 100, -1, "words"), "overlap must be"),
    (ChunkSettings("semantic", 100, 0, "chars"), "unknown chunking method 'semantic'"),  # type: ignore[arg-type]
    (ChunkSettings("fixed", 100, 0, "lines"), "unknown chunk size unit 'lines'"),  # type: ignore[arg-type]
])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ExplorerError, match=message):
        validate(settings)
    with pytest.raises(ExplorerError, match=message):
        list(chunk_documents([Document("text", "x.txt", "8" * 64)], settings))


def test_token_sizes_need_the_tokenizer_and_room_for_text(count_tokens):
    doc = Document("Some text.", "x.txt", "9" * 64)
    with pytest.raises(ExplorerError, match="need the embedding model's tokenizer"):
        chunk_document(doc, ChunkSettings("recursive", 100, 0, "tokens"))
    with pytest.raises(ExplorerError, match="leaves no room for text"):
        chunk_document(doc, ChunkSettings("recursive", 2, 0, "tokens"), count_tokens=count_tokens)
    assert [c.text for c in chunk_document(doc, ChunkSettings("recursive", 5, 0, "tokens"),
                                           count_tokens=count_tokens)] == ["Some text.", ]
