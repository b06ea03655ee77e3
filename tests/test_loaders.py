"""Loaders on real files and on every kind of bad input a user can hand over."""
from __future__ import annotations

import hashlib
import io
import json
import re
import tracemalloc
import zlib

import pytest
from pypdf import PdfWriter

from conftest import LONG_DOCS, SCIFACT
from core.errors import LoaderError
from core.loaders import PART_LIMIT, PART_TARGET, SUPPORTED_EXTENSIONS, load_bytes, load_path

FRANKENSTEIN = LONG_DOCS / "pg84_frankenstein.txt"
PRIDE = LONG_DOCS / "pg1342_pride_and_prejudice.txt"


def error(name: str, data: bytes, **options) -> str:
    """The message loading these bytes fails with (the test fails if it loads)."""
    with pytest.raises(LoaderError) as caught:
        list(load_bytes(name, data, **options))
    assert caught.value.source == name.replace("\\", "/").rsplit("/", 1)[-1]
    return str(caught.value)


def pdf_bytes(pages: list[list[str]], title: str | None = None) -> bytes:
    """A minimal valid PDF written by hand: each page draws its lines in Helvetica
    (a page with no lines has no text layer, like a scan)."""
    count = len(pages)
    page_ids = [4 + 2 * n for n in range(count)]
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % i for i in page_ids), count),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for page_id, lines in zip(page_ids, pages):
        shown = b"".join(b"(%s) Tj 0 -16 Td " % line.encode("latin-1").replace(b"(", b"\\(").replace(b")", b"\\)")
                         for line in lines)
        content = b"BT /F1 12 Tf 72 720 Td " + shown + b"ET" if lines else b""
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (page_id + 1))
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    info = b""
    if title:
        objects.append(b"<< /Title (%s) >>" % title.encode("latin-1"))
        info = b" /Info %d 0 R" % len(objects)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info, xref)
    return bytes(out)


def encrypted(data: bytes, user_password: str, owner_password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(user_password, owner_password, algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# -- plain text ----------------------------------------------------------------------------------

def test_long_document_loads_whole_with_file_hash_and_category():
    docs = list(load_path(FRANKENSTEIN, category="novel"))
    raw = FRANKENSTEIN.read_bytes()
    assert len(docs) == 1
    doc = docs[0]
    assert doc.text == FRANKENSTEIN.read_text(encoding="utf-8")  # BOM kept, so offsets match read_text
    assert doc.source == str(FRANKENSTEIN.resolve()) and doc.offset == 0  # a file given alone: its resolved path
    assert doc.content_hash == hashlib.sha256(raw).hexdigest()
    assert doc.metadata == {"category": "novel"}
    assert "Victor" in doc.text


def test_upload_and_path_give_the_same_document():
    data = (LONG_DOCS / "commonmark_spec.txt").read_bytes()
    [from_path] = load_path(LONG_DOCS / "commonmark_spec.txt", source="commonmark_spec.txt")
    [uploaded] = load_bytes("commonmark_spec.txt", data)
    assert uploaded == from_path


@pytest.mark.parametrize("name, data, reason", [
    ("empty.txt", b"", "is empty"),
    ("blank.md", b"  \n\n\t \r\n  ", "is empty"),
    ("bom-only.txt", b"\xef\xbb\xbf \n", "is empty"),
    ("bytes.txt", bytes(range(256)) * 40, "looks like a binary file"),
    ("book.txt.gz.txt", zlib.compress(PRIDE.read_bytes()), "looks like a binary file"),
    ("controls.txt", bytes(range(1, 9)) * 500 + b"some text", "looks like a binary file"),
    ("report.docx", b"PK\x03\x04", "'.docx' files are not supported (supported: .txt, .md"),
    ("README", b"hello", "files without an extension are not supported"),
])
def test_bad_text_files_are_refused_with_a_reason(name, data, reason):
    assert reason in error(name, data)


def test_missing_file_and_folder_are_named(tmp_path):
    with pytest.raises(LoaderError, match="nope.txt: file not found"):
        list(load_path(tmp_path / "nope.txt"))
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(LoaderError, match="folder.txt: is a folder"):
        list(load_path(tmp_path / "folder.txt"))


def test_supported_extensions_cover_every_format():
    assert {".txt", ".md", ".pdf", ".html", ".htm", ".csv", ".jsonl"} <= set(SUPPORTED_EXTENSIONS)


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_legacy_single_byte_text(encoding):
    text = "Crème brûlée à la façon de l'auteur, déjà vu.\n\n« Très bien », dit-il."
    [doc] = load_bytes("notes.txt", text.encode(encoding))
    assert doc.text == text


def test_cp1252_punctuation_and_latin1_fallback():
    [doc] = load_bytes("quotes.txt", "“Smart” quotes — and a euro sign: €5".encode("cp1252"))
    assert doc.text == "“Smart” quotes — and a euro sign: €5"
    # 0x81 is undefined in cp1252: only latin-1 decodes it.
    [doc] = load_bytes("odd.txt", b"caf\xe9 \x81 ok")
    assert doc.text == "café \x81 ok"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_byte_order_mark(encoding):
    text = "Grüße aus Köln — 日本語のテキスト.\n\nSecond paragraph."
    data = ("\ufeff" + text).encode(encoding) if encoding.endswith("be") else text.encode(encoding)
    [doc] = load_bytes("utf16.txt", data)
    assert doc.text == "\ufeff" + text  # the mark is a character of the file, like in read_text


def test_utf8_multibyte_characters_split_across_read_blocks(tmp_path):
    text = "é" * (1 << 20) + "\n\nend"  # 2-byte characters straddle every 1 MiB block boundary
    path = tmp_path / "accents.txt"
    path.write_text(text, encoding="utf-8")
    assert "".join(d.text for d in load_path(path)) == text


def test_single_five_megabyte_line_is_cut_into_parts(tmp_path):
    words = ("lorem ipsum dolor sit amet " * 200_000).rstrip()
    path = tmp_path / "one-line.txt"
    path.write_text(words, encoding="utf-8")
    docs = list(load_path(path))
    assert len(docs) > 1 and "".join(d.text for d in docs) == words
    for before, after in zip(docs, docs[1:]):
        assert after.offset == before.offset + len(before.text)
        assert before.text.endswith(" ")  # cut between words, the line has no other boundary
    assert all(len(d.text) < PART_LIMIT for d in docs)

    unbroken = "x" * 5_000_000  # not even a space: a hard cut
    path.write_text(unbroken, encoding="ascii")
    docs = list(load_path(path))
    assert [len(d.text) for d in docs] == [PART_TARGET, len(unbroken) - PART_TARGET]


def test_large_file_streams_in_parts_cut_at_paragraphs(tmp_path):
    raw = PRIDE.read_bytes()
    path = tmp_path / "big.txt"
    path.write_bytes(raw * 16)  # ~12 MB
    whole = path.read_text(encoding="utf-8")
    docs = list(load_path(path, category="novel"))
    assert len(docs) >= 4
    assert "".join(d.text for d in docs) == whole
    assert {d.content_hash for d in docs} == {hashlib.sha256(raw * 16).hexdigest()}
    assert {d.source for d in docs} == {str(path)}
    offset = 0
    for doc in docs:
        assert doc.offset == offset and whole[offset:offset + len(doc.text)] == doc.text
        assert len(doc.text) < PART_LIMIT and doc.metadata == {"category": "novel"}
        offset += len(doc.text)
    for doc in docs[:-1]:
        assert re.search(r"\n[ \t\r]*\n$", doc.text), "a part ends at a blank line"
        assert PART_TARGET / 2 <= len(doc.text) <= PART_TARGET * 1.1


def test_large_file_never_holds_the_whole_text(tmp_path):
    path = tmp_path / "huge.txt"
    path.write_bytes(PRIDE.read_bytes() * 54)  # ~41 MB
    tracemalloc.start()
    try:
        lengths = [len(d.text) for d in load_path(path)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(lengths) > 40_000_000
    # Parts of ~2 M characters (2 bytes each: the BOM makes them UCS-2) plus the read buffer.
    assert peak < 32_000_000, f"peak {peak / 1e6:.1f} MB while loading a {path.stat().st_size / 1e6:.0f} MB file"


# -- uploads --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, kept", [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\ana\\My Notes.md", "My Notes.md"),
    ("/abs/path/to/..\\..\\notes.txt", "notes.txt"),
    ("folder/sub/report.txt", "report.txt"),
])
def test_uploaded_names_keep_only_the_base_name(name, kept):
    [doc] = load_bytes(name, b"Some text worth keeping.")
    assert doc.source == kept


def test_upload_named_dot_dot_is_not_a_path():
    with pytest.raises(LoaderError) as caught:
        list(load_bytes("..", b"hello"))
    assert caught.value.source == "upload" and "not supported" in caught.value.reason


# -- PDF ------------------------------------------------------------------------------------------

def test_pdf_text_layer_pages_joined_by_blank_lines():
    data = pdf_bytes([["It is a truth universally acknowledged,", "that a single man in possession"],
                      [],  # a blank page between two with text
                      ["of a good fortune, must be in want of a wife."]], title="Pride and Prejudice")
    [doc] = load_bytes("pride.pdf", data, category="novel")
    assert doc.text == ("It is a truth universally acknowledged,\nthat a single man in possession\n\n"
                        "of a good fortune, must be in want of a wife.")
    assert doc.metadata == {"category": "novel", "title": "Pride and Prejudice", "pages": 3}
    assert doc.content_hash == hashlib.sha256(data).hexdigest()


def test_pdf_without_text_layer():
    assert "no extractable text (scanned PDF?)" in error("scan.pdf", pdf_bytes([[], []]))


@pytest.mark.parametrize("data", [
    b"",
    b"%PDF-1.4\nthis is not really a pdf at all\n%%EOF",
    zlib.compress(b"random-looking bytes" * 100),
])
def test_corrupt_pdf(data):
    assert re.search(r"is empty|is not a readable PDF", error("broken.pdf", data))


def test_truncated_pdf():
    data = pdf_bytes([["First page text."], ["Second page text."]])
    assert "is not a readable PDF" in error("cut.pdf", data[: len(data) * 2 // 3])


def test_password_protected_pdf():
    data = encrypted(pdf_bytes([["Secret minutes of the meeting."]]), "s3cret", "owner")
    assert "password-protected PDF" in error("minutes.pdf", data)


def test_pdf_encrypted_with_empty_user_password_opens():
    # Common for "no copying" PDFs: anyone may open them, only the owner may edit.
    data = encrypted(pdf_bytes([["Readable by anyone."]]), "", "owner")
    [doc] = load_bytes("restricted.pdf", data)
    assert doc.text == "Readable by anyone."


# -- HTML -----------------------------------------------------------------------------------------

def test_html_keeps_visible_text_only():
    page = b"""<!DOCTYPE html>
<html><head><title>Letter  IV</title><style>p { color: red }</style>
<script>var secret = "tracking code";</script></head>
<body><!-- editor's note -->
<h1>Letter IV</h1>
<p>So strange an accident has happened to us that I cannot forbear
   recording it.</p>
<script type="text/javascript">document.write("injected");</script>
<p>We perceived a <b>low</b> carriage, fixed on a sledge<br>and drawn by dogs.</p>
<ul><li>north</li><li>ice</li></ul><noscript>enable JS</noscript>
</body></html>"""
    [doc] = load_bytes("letter.html", page, category="web")
    assert doc.text == ("Letter IV\n\nSo strange an accident has happened to us that I cannot forbear recording it."
                        "\n\nWe perceived a low carriage, fixed on a sledge\nand drawn by dogs.\n\nnorth\n\nice")
    assert doc.metadata == {"category": "web", "title": "Letter IV"}
    for gone in ("tracking", "injected", "color", "editor", "enable JS", "<", ">"):
        assert gone not in doc.text


def test_html_in_legacy_encoding_and_empty_page():
    [doc] = load_bytes("caf.htm", "<p>Café crème</p>".encode("cp1252"))
    assert doc.text == "Café crème"
    assert "is empty" in error("blank.html", b"<html><body><script>x()</script>  </body></html>")


# -- CSV and JSONL --------------------------------------------------------------------------------

def test_csv_rows_become_documents(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_bytes(b'\xef\xbb\xbfid,title,body,topic,author\n'
                     b'a1,First,"Body one, with a comma\nand a line break",science,Ana\n'
                     b'a2,Second,,history,Ben\n'          # no body: title alone is the text
                     b'a3,,,history,Ben\n'                # nothing at all: skipped
                     b'a4,Fourth,Body four,,Cleo\n')
    docs = list(load_path(path, source="notes.csv", text_field="title, body", category_field="topic",
                          metadata_fields=["author"],
                          category="notes"))
    assert [(d.source, d.metadata["row"]) for d in docs] == [("notes.csv", "a1"), ("notes.csv", "a2"), ("notes.csv", "a4")]
    assert docs[0].text == "First\nBody one, with a comma\nand a line break"
    assert docs[1].text == "Second"
    assert [d.metadata for d in docs] == [{"category": "science", "author": "Ana", "row": "a1"},
                                          {"category": "history", "author": "Ben", "row": "a2"},
                                          {"category": "notes", "author": "Cleo", "row": "a4"}]  # empty topic: the default
    assert len({d.content_hash for d in docs}) == 3


def test_csv_without_id_column_uses_row_numbers():
    docs = list(load_bytes("plain.csv", b"text\nalpha\nbeta\n"))
    assert [(d.source, d.metadata["row"], d.text) for d in docs] == [("plain.csv", "1", "alpha"), ("plain.csv", "2", "beta")]


def test_csv_missing_column_names_it_and_lists_the_others():
    message = error("people.csv", b"name,bio\nAda,Mathematician\n", text_field="biography")
    assert "no column 'biography'" in message and "columns are: name, bio" in message
    message = error("people.csv", b"name,bio\nAda,Mathematician\n", text_field="bio", category_field="team")
    assert "no column 'team'" in message


def test_csv_with_default_text_column_missing_explains_text_field():
    assert "name the text column with text_field" in error("people.csv", b"name,bio\nAda,x\n")


def test_jsonl_broken_line_names_the_line_and_rejects_the_file():
    rows = b"".join(b'{"id": %d, "text": "row %d"}\n' % (n, n) for n in range(1, 6))
    message = error("rows.jsonl", rows + b'{"id": 6, "text": "unterminated\n' + rows)
    assert "line 6 is not valid JSON" in message and "whole file is rejected" in message
    assert "line 2 is not a JSON object" in error("rows.jsonl", b'{"text": "a"}\n[1, 2]\n')


def test_jsonl_missing_field_lists_the_fields():
    message = error("rows.jsonl", b'{"_id": "1", "body": "x"}\n', text_field="text")
    assert "no field 'text'" in message and "fields are: _id, body" in message


def test_jsonl_values_become_scalar_metadata():
    line = {"id": 7, "text": "A row.", "tags": ["a", "b"], "score": 0.5, "ok": True, "none": None, "kind": 3}
    [doc] = load_bytes("x.jsonl", json.dumps(line).encode() + b"\n\n",
                       category_field="kind", metadata_fields=("tags", "score", "ok", "none"))
    assert (doc.source, doc.metadata["row"]) == ("x.jsonl", "7")
    assert doc.metadata == {"category": "3", "tags": '["a", "b"]', "score": 0.5, "ok": True, "row": "7"}


def test_scifact_corpus_title_and_text():
    corpus = SCIFACT / "corpus.jsonl"
    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    docs = list(load_path(corpus, source="corpus.jsonl", text_field="title,text", metadata_fields=("_id",),
                          category="scifact"))
    assert len(docs) == len(rows) == 5183
    assert [(d.source, d.metadata["row"]) for d in docs] == [("corpus.jsonl", r["_id"]) for r in rows]
    assert [d.metadata["_id"] for d in docs] == [r["_id"] for r in rows]
    assert all(d.metadata["category"] == "scifact" for d in docs)
    by_id = {d.metadata["_id"]: d for d in docs}
    first = rows[0]
    assert by_id[first["_id"]].text == f"{first['title']}\n{first['text']}"
    assert len({d.content_hash for d in docs}) == len(docs)
