"""Files -> Documents: plain text and Markdown, PDF, HTML, and CSV / JSONL rows.

Memory stays flat however large a file is:
- plain text is read in two streaming passes: the first hashes the bytes and
  settles the encoding, the second decodes and yields the text in parts of
  about `PART_TARGET` characters, each cut at a paragraph break (every part
  carries the whole file's hash and its character offset in the whole text);
- CSV and JSONL are read row by row, each row becoming its own Document with
  the file as its source and the row's id (`id_field`, else an `_id` / `id`
  column, else its number) in metadata["row"] (so a search can be restricted
  to a file, and deleting the file removes all its rows);
- PDF pages are extracted one by one and grouped into parts the same way.
HTML is read at once: pages are small, and the parser needs the whole tree.

A document's `source` is its identity, given by the caller: a local file's resolved
absolute path (`local_source`), the upload's name under its folder label; a row is its
file plus metadata["row"]. The content hash only tells whether it changed.

Every problem a user can fix is a `LoaderError` naming the file and the reason.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Sequence

from bs4 import BeautifulSoup
from bs4.element import PreformattedString
from pypdf import PasswordType, PdfReader

from .errors import LoaderError
from .types import Document, Metadata, MetaValue, content_hash

TEXT_EXTENSIONS = (".txt", ".md", ".markdown")
HTML_EXTENSIONS = (".html", ".htm")
SUPPORTED_EXTENSIONS = (*TEXT_EXTENSIONS, ".pdf", *HTML_EXTENSIONS, ".csv", ".jsonl")

READ_BLOCK = 1 << 20          # bytes read at a time
PART_TARGET = 2_000_000       # characters: a large file is yielded in parts of about this size...
PART_LIMIT = 4_000_000        # ...and a file (or the rest of one) under this is yielded whole
BINARY_SAMPLE = 65_536        # characters inspected for control codes
BINARY_CONTROL_RATIO = 0.1    # text never has this many control characters; binary data does

# Bytes cp1252 leaves undefined: a file holding them is decoded as latin-1 instead.
CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
BLANK_LINE = re.compile(r"\n(?:[ \t\r\f\v]*\n)+")
LINE_BREAK = re.compile(r"\n")
WHITESPACE = re.compile(r"\s+")
PATH_SEPARATOR = re.compile(r"[\\/]")
NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ID_COLUMNS = ("_id", "id")
DEFAULT_TEXT_FIELD = "text"

Opener = Callable[[], BinaryIO]


@dataclass(frozen=True)
class FieldOptions:
    """Which columns of a CSV / JSONL file hold the text, the category, the row id and other metadata."""

    text_fields: tuple[str, ...]
    category_field: str | None
    metadata_fields: tuple[str, ...]
    category: str | None
    id_field: str | None = None

    @classmethod
    def parse(cls, text_field: str | None, category_field: str | None, metadata_fields: Iterable[str],
              category: str | None, id_field: str | None = None) -> FieldOptions:
        names = tuple(f.strip() for f in (text_field or DEFAULT_TEXT_FIELD).split(",") if f.strip())
        return cls(text_fields=names or (DEFAULT_TEXT_FIELD,), category_field=category_field or None,
                   metadata_fields=tuple(metadata_fields), category=category or None,
                   id_field=(id_field or "").strip() or None)

    def named(self) -> tuple[str, ...]:
        """Every column these options name, for checking them against a file's columns."""
        optional = tuple(f for f in (self.category_field, self.id_field) if f)
        return (*self.text_fields, *optional, *self.metadata_fields)

    def file_metadata(self) -> Metadata:
        return {"category": self.category} if self.category else {}


def local_source(path: str | Path) -> str:
    """The source a file on this machine is known by: its resolved absolute path. "./docs/a.md",
    "docs/a.md", the absolute path, a symlink to it, and the file found by ingesting its folder or
    a parent folder are one document; two files called notes.txt in different folders are two."""
    return os.path.realpath(path)


def load_path(path: str | Path, *, source: str | None = None, text_field: str | None = None,
              category_field: str | None = None, metadata_fields: Sequence[str] = (), category: str | None = None,
              id_field: str | None = None) -> Iterator[Document]:
    """Documents of the file at `path` (several for large or tabular files), read lazily.
    `source` is the document's identity (default: the full path, see `local_source`).

    Only regular files are opened: a FIFO would block the read for ever, a device
    (/dev/zero) never ends, so both are refused on sight."""
    path = Path(path)
    name = source or local_source(path)
    options = FieldOptions.parse(text_field, category_field, metadata_fields, category, id_field)

    def opener() -> BinaryIO:
        try:
            # Non-blocking, so that a file swapped for a FIFO since the check below cannot hang the open.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            raise LoaderError(name, "file not found") from None
        except OSError as exc:
            raise LoaderError(name, f"cannot be read ({exc.strerror})") from None
        try:
            _check_regular(name, os.fstat(fd).st_mode)
        except LoaderError:
            os.close(fd)
            raise
        return os.fdopen(fd, "rb")

    try:
        _check_regular(name, path.stat().st_mode)
    except FileNotFoundError:
        raise LoaderError(name, "file not found") from None
    except OSError as exc:
        raise LoaderError(name, f"cannot be read ({exc.strerror})") from None
    yield from _load(name, opener, options)


def _check_regular(name: str, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise LoaderError(name, "is a folder, not a file")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise LoaderError(name, f"is {kind}, not a file; only regular files can be ingested")


def load_bytes(name: str, data: bytes, *, folder: str | None = None, text_field: str | None = None,
               category_field: str | None = None, metadata_fields: Sequence[str] = (), category: str | None = None,
               id_field: str | None = None) -> Iterator[Document]:
    """Documents of an uploaded file, known by `upload_source(name, folder)`."""
    options = FieldOptions.parse(text_field, category_field, metadata_fields, category, id_field)
    yield from _load(upload_source(name, folder), lambda: io.BytesIO(data), options)


def upload_name(name: str) -> str:
    """Only the base of an uploaded file's name is kept: a browser's name is untrusted and
    must not smuggle a path ("../x", "C:\\x") into sources."""
    base = NAME_CONTROL.sub("", PATH_SEPARATOR.split(name)[-1]).strip()
    return base if base.strip(".") else "upload"


def upload_source(name: str, folder: str | None = None) -> str:
    """The source an upload is known by: its name, under the folder label the user gave
    (so two uploads called notes.txt can be told apart). The label is cleaned like a name:
    no control characters, no empty, "." or ".." parts."""
    parts = [NAME_CONTROL.sub("", part).strip() for part in PATH_SEPARATOR.split(folder or "")]
    label = "/".join(part for part in parts if part.strip("."))
    base = upload_name(name)
    return f"{label}/{base}" if label else base


def _load(name: str, opener: Opener, options: FieldOptions) -> Iterator[Document]:
    extension = Path(name).suffix.lower()
    if extension in TEXT_EXTENSIONS:
        yield from _text_documents(name, opener, options)
    elif extension == ".pdf":
        yield from _pdf_documents(name, _read_all(opener), options)
    elif extension in HTML_EXTENSIONS:
        yield from _html_documents(name, _read_all(opener), options)
    elif extension == ".csv":
        yield from _csv_documents(name, opener, options)
    elif extension == ".jsonl":
        yield from _jsonl_documents(name, opener, options)
    else:
        kind = f"'{extension}' files are" if extension else "files without an extension are"
        raise LoaderError(name, f"{kind} not supported (supported: {', '.join(SUPPORTED_EXTENSIONS)})")


def _read_all(opener: Opener) -> bytes:
    with opener() as stream:
        return stream.read()


def _blocks(stream: BinaryIO) -> Iterator[bytes]:
    while block := stream.read(READ_BLOCK):
        yield block


# -- encoding ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scan:
    """What a first pass over a file's bytes found out."""

    sha256: str
    codec: str      # decodes the whole file, a byte-order mark (if any) to U+FEFF
    bom: bytes      # the byte-order mark the file starts with, b"" if none


def _scan(name: str, opener: Opener) -> Scan:
    """Hash the bytes and pick the encoding: UTF-16 by its BOM, else UTF-8 if every
    byte decodes, else cp1252, else latin-1. Rejects empty and binary files."""
    digest = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    is_utf8 = is_cp1252 = True
    head: tuple[bytes, str] | None = None  # (BOM, its codec) once the first block is read
    with opener() as stream:
        for block in _blocks(stream):
            if head is None:
                head = _bom(block)
                _reject_binary(name, block.decode(head[1] or "latin-1", errors="replace")[:BINARY_SAMPLE])
            digest.update(block)
            if head[1].startswith("utf-16"):
                continue
            if b"\x00" in block:
                raise LoaderError(name, "looks like a binary file, not text (it holds NUL bytes)")
            if is_utf8:
                try:
                    utf8.decode(block)
                except UnicodeDecodeError:
                    is_utf8 = False
            is_cp1252 = is_cp1252 and not CP1252_UNDEFINED.search(block)
    if head is None:
        raise LoaderError(name, "is empty")
    bom, codec = head
    if not codec.startswith("utf-16"):
        try:
            utf8.decode(b"", final=True)  # a multi-byte sequence cut off by the end of the file
        except UnicodeDecodeError:
            is_utf8 = False
        codec = "utf-8" if is_utf8 else "cp1252" if is_cp1252 else "latin-1"
        bom = bom if is_utf8 else b""
    return Scan(sha256=digest.hexdigest(), codec=codec, bom=bom)


def _bom(head: bytes) -> tuple[bytes, str]:
    """(byte-order mark, codec) when `head` starts with one, else (b"", "")."""
    for mark, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                        (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(mark):
            return mark, codec
    return b"", ""


def _reject_binary(name: str, sample: str) -> None:
    if "\x00" in sample or len(CONTROL.findall(sample)) > BINARY_CONTROL_RATIO * len(sample):
        raise LoaderError(name, "looks like a binary file, not text")


def _has_text(text: str) -> bool:
    return bool(text.strip().strip("\ufeff").strip())


# -- plain text and Markdown ------------------------------------------------------------------

def _text_documents(name: str, opener: Opener, options: FieldOptions) -> Iterator[Document]:
    """The file's text in parts. The text is every character of the file, a leading
    byte-order mark included (as U+FEFF), so offsets match the file as Python's
    `read_text` gives it; the chunker never puts the mark in a chunk."""
    scan = _scan(name, opener)
    metadata = options.file_metadata()
    yielded = False
    with opener() as stream:
        for offset, text in _parts(_decoded(stream, scan.codec)):
            if "\x00" in text:
                raise LoaderError(name, "looks like a binary file, not text (it holds NUL characters)")
            if _has_text(text):  # a whitespace-only part holds no chunks; offsets of the rest stay exact
                yielded = True
                yield Document(text=text, source=name, content_hash=scan.sha256, metadata=metadata, offset=offset)
    if not yielded:
        raise LoaderError(name, "is empty (only whitespace)")


def _decoded(stream: BinaryIO, codec: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(codec)()
    for block in _blocks(stream):
        yield decoder.decode(block)
    yield decoder.decode(b"", final=True)


def _parts(pieces: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(offset, text) parts of the text the pieces make up, each under PART_LIMIT characters."""
    offset = 0
    buffer = ""
    for piece in pieces:
        buffer += piece
        while len(buffer) >= PART_LIMIT:
            cut = part_boundary(buffer, PART_TARGET)
            yield offset, buffer[:cut]
            offset += cut
            buffer = buffer[cut:]
    if buffer:
        yield offset, buffer


def part_boundary(text: str, target: int) -> int:
    """Where to end a part of `text` near `target`: after a blank line, else after a
    line break, else after whitespace, else exactly at `target` (one huge word)."""
    for boundary in (BLANK_LINE, LINE_BREAK, WHITESPACE):
        best = None
        for match in boundary.finditer(text, target // 2):
            if match.end() > target and best is not None:
                break
            best = match.end()
            if best >= target:
                break
        if best is not None and best < len(text):
            return best
    return target


# -- PDF --------------------------------------------------------------------------------------

PAGE_SEPARATOR = "\n\n"


def _pdf_documents(name: str, data: bytes, options: FieldOptions) -> Iterator[Document]:
    """The text layer, pages joined by blank lines, in parts like a large text file."""
    if not data:
        raise LoaderError(name, "is empty")
    reader = _pdf_reader(name, data)
    digest = hashlib.sha256(data).hexdigest()
    metadata = options.file_metadata()
    title = _pdf_title(reader)
    if title:
        metadata["title"] = title
    metadata["pages"] = len(reader.pages)
    yielded = False
    for offset, text in _parts(_pdf_page_texts(name, reader)):
        yielded = True
        yield Document(text=text, source=name, content_hash=digest, metadata=metadata, offset=offset)
    if not yielded:
        raise LoaderError(name, "has no extractable text (scanned PDF?); run OCR on it first")


# pypdf reports a malformed file with many exception types (its own, but also
# ValueError, KeyError, struct errors...), so reading a PDF is guarded broadly.
def _pdf_reader(name: str, data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise LoaderError(name, "is a password-protected PDF; remove the password and load it again")
        len(reader.pages)  # parses the page tree: a damaged one fails here, not half way
    except LoaderError:
        raise
    except Exception as exc:  # noqa: BLE001 - see above
        raise LoaderError(name, f"is not a readable PDF ({exc or type(exc).__name__})") from exc
    return reader


def _pdf_page_texts(name: str, reader: PdfReader) -> Iterator[str]:
    """The text of each page that has some, a blank line before all but the first."""
    separator = ""
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:  # noqa: BLE001 - pypdf, as in _pdf_reader
            raise LoaderError(name, f"page {number} cannot be read ({exc or type(exc).__name__})") from exc
        text = text.replace("\x00", "").strip()
        if text:
            yield separator + text
            separator = PAGE_SEPARATOR


def _pdf_title(reader: PdfReader) -> str:
    try:
        return str((reader.metadata or {}).get("/Title") or "").strip()
    except Exception:  # noqa: BLE001 - a damaged info dictionary only costs the title
        return ""


# -- HTML -------------------------------------------------------------------------------------

# Elements whose content is not text a reader sees.
HTML_HIDDEN = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")
# Elements that start a new paragraph.
HTML_BLOCKS = ("address", "article", "aside", "blockquote", "dd", "details", "dialog", "div", "dl", "dt",
               "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
               "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tr",
               "td", "th", "ul", "caption")


def _html_documents(name: str, data: bytes, options: FieldOptions) -> Iterator[Document]:
    scan = _scan(name, lambda: io.BytesIO(data))
    text, title = html_text(data[len(scan.bom):].decode(scan.codec))
    if not _has_text(text):
        raise LoaderError(name, "is empty (no visible text)")
    metadata = options.file_metadata()
    if title:
        metadata["title"] = title
    yield Document(text=text, source=name, content_hash=scan.sha256, metadata=metadata)


def html_text(markup: str) -> tuple[str, str]:
    """(visible text, title) of an HTML page: no markup, no scripts or styles;
    block elements become paragraphs and whitespace collapses as a browser shows it."""
    soup = BeautifulSoup(markup, "html.parser")
    title = " ".join(soup.title.get_text().split()) if soup.title else ""
    for element in soup.find_all(HTML_HIDDEN):
        element.decompose()
    for string in soup.find_all(string=True):
        if isinstance(string, PreformattedString):  # comments, doctype, processing instructions
            string.extract()
        elif not string.find_parent("pre"):
            string.replace_with(WHITESPACE.sub(" ", string))
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(HTML_BLOCKS):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", soup.get_text())
    return re.sub(r"\n{3,}", "\n\n", text).strip(), title


# -- CSV and JSONL rows -----------------------------------------------------------------------

def _row_document(name: str, row_id: str, values: dict[str, object], options: FieldOptions) -> Document | None:
    """One row as a Document, None when its text fields are empty."""
    text = "\n".join(s for s in (_as_text(values.get(f)) for f in options.text_fields) if s.strip())
    if not text:
        return None
    metadata: Metadata = {}
    category = _as_text(values.get(options.category_field)).strip() if options.category_field else ""
    if category or options.category:
        metadata["category"] = category or options.category or ""
    for field in options.metadata_fields:
        value = _as_meta(values.get(field))
        if value is not None:
            metadata[field] = value
    metadata["row"] = row_id
    # A row's hash covers what becomes of it (text and metadata), not the file:
    # editing one row then replaces only that row's chunks.
    digest = content_hash(name, text, json.dumps(metadata, sort_keys=True))
    return Document(text=text, source=name, content_hash=digest, metadata=metadata)


def _as_text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _as_meta(value: object) -> MetaValue | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, (str, int, float, bool)) else json.dumps(value, ensure_ascii=False)


def _check_columns(name: str, columns: Sequence[str], options: FieldOptions, what: str) -> None:
    for field in options.named():
        if field not in columns:
            hint = " (name the text column with text_field)" if field == DEFAULT_TEXT_FIELD else ""
            raise LoaderError(name, f"has no {what} '{field}'{hint}; {what}s are: {', '.join(columns) or 'none'}")


def _row_id(name: str, values: dict[str, object], number: int, options: FieldOptions) -> str:
    """A row's identity within its file: the `id_field` column when named (a row without a value
    there is refused), else an `_id` / `id` column, else the row's number."""
    if options.id_field:
        value = _as_text(values.get(options.id_field)).strip()
        if not value:
            raise LoaderError(name, f"row {number} has no value in the id field '{options.id_field}'")
        return value
    for column in ID_COLUMNS:
        value = _as_text(values.get(column)).strip()
        if value:
            return value
    return str(number)


def _csv_documents(name: str, opener: Opener, options: FieldOptions) -> Iterator[Document]:
    scan = _scan(name, opener)
    # Whole documents often sit in one cell: allow far more than csv's 128 KB default.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    found = False
    with opener() as raw:
        raw.read(len(scan.bom))
        reader = csv.reader(io.TextIOWrapper(raw, encoding=scan.codec, newline=""))
        try:
            header = [column.strip() for column in next(reader, [])]
            _check_columns(name, header, options, "column")
            for number, row in enumerate(reader, start=1):
                values = dict(zip(header, row))
                document = _row_document(name, _row_id(name, values, number, options), values, options)
                if document:
                    found = True
                    yield document
        except csv.Error as exc:
            raise LoaderError(name, f"line {reader.line_num} is not valid CSV ({exc})") from exc
    if not found:
        raise LoaderError(name, f"has no rows with text in {', '.join(options.text_fields)}")


def _jsonl_documents(name: str, opener: Opener, options: FieldOptions) -> Iterator[Document]:
    """One Document per line. A broken line rejects the whole file: rows already
    yielded are the caller's to discard (the ingest pipeline rolls them back)."""
    found = seen_any = False
    with opener() as stream:
        for number, line in enumerate(stream, start=1):
            if number == 1:
                line = line.removeprefix(codecs.BOM_UTF8)
            if not line.strip():
                continue
            row = _json_row(name, number, line)
            if not seen_any:  # the first row says which fields the file has
                _check_columns(name, list(row), options, "field")
                seen_any = True
            document = _row_document(name, _row_id(name, row, number, options), row, options)
            if document:
                found = True
                yield document
    if not seen_any:
        raise LoaderError(name, "is empty")
    if not found:
        raise LoaderError(name, f"has no rows with text in {', '.join(options.text_fields)}")


def _json_row(name: str, number: int, line: bytes) -> dict[str, object]:
    reject = "; the whole file is rejected, fix that line and load it again"
    try:
        row = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise LoaderError(name, f"line {number} is not UTF-8 text{reject}") from None
    except json.JSONDecodeError as exc:
        raise LoaderError(name, f"line {number} is not valid JSON ({exc.msg}){reject}") from None
    if not isinstance(row, dict):
        raise LoaderError(name, f"line {number} is not a JSON object{reject}")
    return row
