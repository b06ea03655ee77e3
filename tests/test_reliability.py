"""Bad input end to end (issue #6): every case a user can hand over gets a message naming the
problem and the file, from the core API and from the CLI (exit 1, one `error:` line per problem,
no traceback), and leaves the collection exactly as it was; in a batch the good files still go in.

The loaders' own reasons are tested in test_loaders.py; here the same inputs go through
the pipeline and the CLI. Also: huge files (memory stays flat), long, empty and emoji
queries, a collection searched with another model, hostile names on PostgreSQL.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import LONG_DOCS, ROOT
from core.cli import main as cli_main
from core.errors import EmbedderMismatch, EmbedderUnavailable, ExplorerError
from core.pipeline import LoadOptions, Upload, ingest
from core.search import MODES, search
from core.stores import open_store
from core.types import ChunkSettings, EmbedderInfo, Filter
from core.workspace import open_workspace
from test_cli import cli as run_cli
from test_loaders import encrypted, pdf_bytes

SETTINGS = ChunkSettings(method="recursive", size=120, overlap=0, unit="tokens")
PRIDE = LONG_DOCS / "pg1342_pride_and_prejudice.txt"
TEXT_FIELD = "body"  # CSV/JSONL files below are read with this text column

# name, bytes, what the message must say. Each is a file a user could really pick.
BAD_FILES = [
    ("empty.txt", b"", "empty.txt: is empty"),
    ("blank.md", b" \n\n\t\r\n   \n", "blank.md: is empty (only whitespace)"),
    ("photo.txt", bytes(range(256)) * 64, "photo.txt: looks like a binary file"),
    ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\ntrailer\n%%EOF",
     "broken.pdf: is not a readable PDF"),
    ("locked.pdf", encrypted(pdf_bytes([["Minutes of the board meeting."]]), "s3cret", "owner"),
     "locked.pdf: is a password-protected PDF"),
    ("scan.pdf", pdf_bytes([[], []]), "scan.pdf: has no extractable text (scanned PDF?)"),
    ("people.csv", b"name,bio\nAda,Mathematician\n", "people.csv: has no column 'body'; columns are: name, bio"),
    ("rows.jsonl", b'{"id": 1, "body": "first row"}\n{"id": 2, "body": "second row"}\n{"id": 3, "body": \n',
     "rows.jsonl: line 3 is not valid JSON"),
    ("slides.pptx", b"PK\x03\x04 not text", "slides.pptx: '.pptx' files are not supported"),
]
GOOD_TEXT = PRIDE.read_text(encoding="utf-8")[3_000:9_000]


def state(collection) -> tuple[int, frozenset[str]]:
    return collection.count(), frozenset(collection.get().ids)


@pytest.fixture(scope="module")
def filled(tmp_path_factory, minilm):
    """A store folder whose 'library' holds one real excerpt; tests must leave it as it is."""
    store = str(tmp_path_factory.mktemp("reliability") / "store")
    collection = open_store(store).open_collection("library", minilm.info)
    report = ingest([Upload("pride.txt", GOOD_TEXT.encode())], collection, minilm, SETTINGS)
    assert report.chunks_added > 5 and not report.failures
    return store, collection


# -- bad files: core API -------------------------------------------------------------------------

@pytest.mark.parametrize("name, data, says", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_file_is_named_and_changes_nothing(filled, minilm, name, data, says):
    _, collection = filled
    before = state(collection)
    report = ingest([Upload(name, data)], collection, minilm, SETTINGS, LoadOptions(text_field=TEXT_FIELD))
    assert report.files == 0 and report.chunks_added == 0
    [failure] = report.failures
    assert failure.source == name and says in str(failure)
    assert state(collection) == before


def test_a_batch_keeps_the_good_files_and_lists_the_bad(tmp_path, minilm):
    collection = open_store(str(tmp_path / "store")).open_collection("library", minilm.info)
    good = [Upload("first.txt", GOOD_TEXT[:3_000].encode()),
            Upload("rows-ok.jsonl", b'{"id": "a", "body": "A row of real text about Netherfield."}\n')]
    batch = [Upload(name, data) for name, data, _ in BAD_FILES]
    report = ingest(batch[:4] + good[:1] + batch[4:] + good[1:], collection, minilm, SETTINGS,
                    LoadOptions(text_field=TEXT_FIELD))
    assert report.files == 2
    assert [f.source for f in report.failures] == [name for name, _, _ in BAD_FILES]
    assert {s.source for s in collection.sources()} == {"first.txt", "rows-ok.jsonl"}
    assert collection.count() == report.chunks_added
    assert "9 file(s) failed" in report.summary()


# -- bad files: the CLI, as a user runs it ---------------------------------------------------------

def test_cli_ingest_of_a_folder_with_bad_files(tmp_path, filled):
    store, collection = filled
    folder = tmp_path / "inbox"
    folder.mkdir()
    for name, data, _ in BAD_FILES:
        (folder / name).write_bytes(data)
    before = state(collection)
    files = [str(folder / name) for name, _, _ in BAD_FILES]
    proc = run_cli("ingest", *files, "--store", store, "--text-field", TEXT_FIELD, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == len(BAD_FILES)
    for line, (_, _, says) in zip(lines, BAD_FILES):  # files given one by one: named by their full paths
        assert line.startswith(f"error: {folder}/{says}") and line.endswith("(skipped)")
    assert "0 file(s): 0 chunks added" in proc.stdout and "9 file(s) failed" in proc.stdout
    assert state(open_store(store).open_collection("library", collection.embedder)) == before


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in this process (the model is already loaded): exit code, stdout, stderr."""
    code = cli_main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name, data, says", BAD_FILES[:3], ids=[b[0] for b in BAD_FILES[:3]])
def test_cli_single_bad_file(tmp_path, filled, capsys, name, data, says):
    store, collection = filled
    path = tmp_path / name
    path.write_bytes(data)
    before = state(collection)
    code, _, err = cli(capsys, "ingest", str(path), "--store", store)
    assert code == 1 and err.startswith(f"error: {tmp_path}/{says}") and len(err.strip().splitlines()) == 1
    assert state(collection) == before


def test_cli_names_with_path_separators_and_unicode(tmp_path, filled, capsys, minilm):
    store, _ = filled
    folder = tmp_path / "weird" / "sub"
    folder.mkdir(parents=True)
    odd = folder / "a\\b..notes ☕ résumé.txt"  # a backslash is an ordinary character of a Linux file name
    odd.write_text("Mr. Collins proposed to Charlotte Lucas at Longbourn. ☕ café ⌘ 日本語", encoding="utf-8")
    code, out, err = cli(capsys, "ingest", str(folder / ".." / "sub" / odd.name), "--store", store,
                         "--collection", "unicode", "--category", "ünïcödé ☕")
    assert code == 0, err
    collection = open_store(store).open_collection("unicode", minilm.info, create=False)
    assert [(s.source, s.category) for s in collection.sources()] == [(str(odd), "ünïcödé ☕")]  # full path, ".." gone
    code, out, err = cli(capsys, "search", "café ☕ Charlotte", "--store", store, "--collection", "unicode",
                         "--category", "ünïcödé ☕", "--json")
    [hit] = json.loads(out)
    assert code == 0 and "☕ café ⌘ 日本語" in hit["text"] and hit["metadata"]["source"] == str(odd)
    # An uploaded name is only a base name, whatever path it claims.
    report = ingest([Upload("..\\..\\C:/etc/passwd ☕.txt", b"Lady Catherine de Bourgh called at Longbourn.")],
                    collection, minilm, SETTINGS)
    assert not report.failures and "passwd ☕.txt" in {s.source for s in collection.sources()}


# -- queries -------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_long_empty_and_emoji_queries(filled, minilm, mode):
    _, collection = filled
    long_query = ("Elizabeth Bennet walks to Netherfield to see her sister Jane; " * 170)[:10_000]
    assert len(long_query) == 10_000
    results = search(collection, minilm, long_query, mode=mode, k=3)
    assert len(results) == 3  # the model reads its first 256 tokens; BM25 reads every word
    for empty in ("", "   \n\t"):
        assert search(collection, minilm, empty, mode=mode, k=3) == []
    emoji = search(collection, minilm, "😀🎉 👩‍👩‍👧 ☕", mode=mode, k=3)
    assert len(emoji) == (0 if mode == "keyword" else 3)  # no word BM25 knows; the model still has neighbours


def test_cli_long_and_empty_queries(filled, capsys):
    store, _ = filled
    code, out, err = cli(capsys, "search", "Mr. Darcy " * 1_000, "--store", store, "--json", "-k", "2")
    assert code == 0 and len(json.loads(out)) == 2
    code, out, err = cli(capsys, "search", "  ", "--store", store)
    assert code == 1 and err == "error: the query is empty: give some words to search for\n"


# -- one collection, another model -------------------------------------------------------------

def test_a_collection_searched_with_another_model(filled, minilm, capsys):
    store, collection = filled
    before = state(collection)
    other = open_store(store).open_collection("remote", EmbedderInfo("openai-small", 1536))
    with pytest.raises(EmbedderMismatch, match="made with openai-small, not minilm; use --embedder openai-small"):
        open_workspace(store, "remote", "minilm")
    with pytest.raises(EmbedderUnavailable, match="needs OPENAI_API_KEY"):  # it would be the right model
        open_workspace(store, "remote")
    with pytest.raises(ExplorerError, match="belongs to openai-small, not minilm"):
        ingest([Upload("x.txt", b"Some text.")], other, minilm, SETTINGS)
    code, _, err = cli(capsys, "search", "Darcy", "--store", store, "--collection", "library", "--embedder",
                       "openai-small")
    assert code == 1 and err == ("error: collection 'library' was made with minilm, not openai-small; "
                                 "use --embedder minilm, or ingest into a new collection\n")
    code, _, err = cli(capsys, "search", "Darcy", "--store", store, "--collection", "remote")
    assert code == 1 and err.startswith("error: the 'openai-small' embedder needs OPENAI_API_KEY")
    assert state(collection) == before and other.count() == 0


# -- a 200 MB file --------------------------------------------------------------------------------

BIG_FILE_PROBE = """
import resource, sys
from core.chunking import chunk_documents
from core.loaders import load_path
from core.types import ChunkSettings
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
chunks = chars = 0
for chunk in chunk_documents(load_path(sys.argv[1]), ChunkSettings(method="recursive", size=800, unit="chars")):
    chunks += 1
    chars += len(chunk.text)
print(chunks, chars, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


@pytest.mark.slow
def test_a_200_mb_file_is_read_and_chunked_in_bounded_memory(tmp_path):
    """Loading and chunking only: embedding 200 MB (~50,000 chunks) takes hours on this machine.
    Peak RSS of a fresh process grows by far less than the file's size."""
    book = PRIDE.read_bytes()
    path = tmp_path / "huge.txt"
    with path.open("wb") as out:
        while out.tell() < 200_000_000:
            out.write(book)
    size = path.stat().st_size
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", BIG_FILE_PROBE, str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    chunks, chars, growth = map(int, proc.stdout.split())
    assert chunks > 200_000 and chars > 0.95 * size  # every part was chunked (trimmed whitespace aside)
    assert growth < 150_000_000, f"peak RSS grew {growth / 1e6:.0f} MB for a {size / 1e6:.0f} MB file"


# -- hostile names and values on PostgreSQL ----------------------------------------------------------

@pytest.mark.postgres
def test_postgres_hostile_collection_names_and_unicode_values(postgres_url, new_name, minilm, capsys):
    store = open_store(postgres_url)
    tables = lambda: sorted(i.name for i in store.list_collections())  # noqa: E731
    before = tables()
    for hostile in ('x"; DROP TABLE y; --', "../etc", "café-ünïcode", "名前", "emoji-📄", "x" * 64):
        with pytest.raises(ExplorerError, match="not a valid collection name"):
            store.open_collection(hostile, minilm.info)
        code, _, err = cli(capsys, "ingest", str(PRIDE), "--store", postgres_url, "--collection", hostile)
        assert code == 1 and err.startswith(f"error: '{hostile}' is not a valid collection name")
    assert tables() == before
    name = new_name(store)
    collection = store.open_collection(name, minilm.info)
    texts = {"ünïcödé ☕": "Elizabeth walked through the muddy fields to Netherfield.",
             "' OR 1=1 --": "Mr. Bingley rented Netherfield Park that autumn."}
    for category, text in texts.items():
        ingest([Upload(f"{category}.txt", text.encode())], collection, minilm, SETTINGS, LoadOptions(category=category))
    query = minilm.embed(["Netherfield"])[0]
    for category in texts:
        hits = collection.vector_search(query, 5, Filter(categories=(category,)))
        assert [h.metadata["category"] for h in hits] == [category]
    for hostile in ("' OR '1'='1", "ünïcödé ☕' OR 1=1 --"):
        assert collection.vector_search(query, 5, Filter(categories=(hostile,))) == []
    assert len(collection.keyword_search("Netherfield " * 2_000, 5)) == 2  # a 22,000-character query
    assert len(search(collection, minilm, "😀 ☕", mode="hybrid", k=5)) == 2
