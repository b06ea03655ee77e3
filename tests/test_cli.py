"""`python -m core` as a user runs it: real subprocesses, real store folder, no network."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import LONG_DOCS, ROOT

BOOKS = sorted(str(p) for p in LONG_DOCS.glob("*.txt") if "LICENSE" not in p.name)
# Files are known by their resolved paths (../shared may be a link).
PRIDE = str((LONG_DOCS / "pg1342_pride_and_prejudice.txt").resolve())
FRANKENSTEIN = str((LONG_DOCS / "pg84_frankenstein.txt").resolve())


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> str:
    """The three long documents ingested with the CLI defaults, once for this module."""
    store = str(tmp_path_factory.mktemp("cli") / "store")
    proc = cli("ingest", *BOOKS, "--store", store, "--category", "book")
    assert "3 file(s)" in proc.stdout
    return store


def test_search_finds_pride_and_prejudice(library):
    proc = cli("search", "Who does Elizabeth Bennet marry?", "--store", library,
               "--mode", "vector", "-k", "3", "--json")
    results = json.loads(proc.stdout)
    assert len(results) == 3
    assert all(r["metadata"]["source"] == PRIDE for r in results)
    assert all({"id", "score", "text", "metadata"} <= r.keys() for r in results)
    assert results[0]["metadata"]["category"] == "book"
    assert results[0]["score"] >= results[-1]["score"]


def test_reingest_adds_nothing(library):
    before = cli("collections", "--store", library).stdout
    # The same files described the same way (a re-ingest without --category would drop it: new metadata).
    proc = cli("ingest", *BOOKS, "--store", library, "--category", "book")
    assert "0 chunks added" in proc.stdout
    assert cli("collections", "--store", library).stdout == before


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_other_modes_and_filters(library, mode):
    proc = cli("search", "Victor Frankenstein creature", "--store", library, "--mode", mode, "-k", "4",
               "--source", FRANKENSTEIN, "--json")
    results = json.loads(proc.stdout)
    assert len(results) == 4
    assert {r["metadata"]["source"] for r in results} == {FRANKENSTEIN}


def test_collections_lists_embedder_and_count(library):
    out = cli("collections", "--store", library).stdout
    assert "library" in out and "minilm (384d)" in out


def test_errors_are_one_line_without_traceback(tmp_path, library):
    missing = cli("search", "anything", "--store", library, "--collection", "nope", check=False)
    assert missing.returncode == 1 and "no collection named 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    bad = cli("ingest", str(empty), "--store", str(tmp_path / "s"), check=False)
    assert bad.returncode == 1 and "empty.txt" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("command", ["ingest", "search", "collections", "samples", "check", "repair"])
def test_every_command_has_help(command):
    assert "usage:" in cli(command, "--help").stdout


# -- edge cases a new user runs into (issue 11, item 5) ----------------------------------------------

def no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr and "Errno" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("args, complaint", [
    (["search", "x", "-k", "0"], "-k: must be at least 1, not 0"),
    (["search", "x", "-k", "-1"], "-k: must be at least 1, not -1"),
    (["search", "x", "-k", "40000"], "-k: must be at most 10,000"),  # Chroma fails past 32,763 (SQLite)
    (["ask", "x", "-k", "0"], "-k: must be at least 1"),
    (["ingest", "x.txt", "--size", "0"], "--size: must be at least 1, not 0"),
    (["ingest", "x.txt", "--overlap", "-3"], "--overlap: must be at least 0"),
    (["sweep", "--beir", "x", "-k", "0"], "-k: must be at least 1"),
    (["project", "--collection", "x", "--method", "pca", "--out", "x.csv", "--sample", "0"], "--sample"),
])
def test_numbers_out_of_range_are_refused(args, complaint):
    proc = cli(*args, check=False)
    assert proc.returncode == 2 and complaint in proc.stderr, proc.stderr
    no_traceback(proc)


def test_output_into_a_closed_pipe_ends_quietly(sample_store):
    command = (f"{sys.executable} -m core search 'the creature' --store {sample_store} --collection samples "
               "-k 20 | head -c 0; exit ${PIPESTATUS[0]}")
    proc = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr


@pytest.mark.parametrize("where", ["missing-folder/map.csv", "."])
def test_out_is_checked_before_projecting(sample_store, tmp_path, where):
    proc = cli("project", "--store", sample_store, "--collection", "samples", "--method", "pca",
               "--out", str(tmp_path / where), check=False)
    assert proc.returncode == 1 and "--out" in proc.stderr
    assert "does not exist" in proc.stderr or "is a folder" in proc.stderr
    assert "fit" not in proc.stderr and "pca" not in proc.stderr.lower().replace("--method pca", "")  # no work done
    no_traceback(proc)


def beir_folder(root: Path, corpus: bytes | None = None, queries: bytes | None = None,
                qrels: bytes | None = None) -> Path:
    """A two-document BEIR folder; any file given replaces the well-formed one."""
    root.mkdir()
    (root / "qrels").mkdir()
    (root / "corpus.jsonl").write_bytes(corpus or b'{"_id": "d1", "title": "A", "text": "alpha beta"}\n'
                                                  b'{"_id": "d2", "title": "B", "text": "gamma delta"}\n')
    (root / "queries.jsonl").write_bytes(queries or b'{"_id": "q1", "text": "alpha"}\n')
    (root / "qrels" / "test.tsv").write_bytes(qrels or b"query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return root


MALFORMED_BEIR = {
    "corpus row without text": ({"corpus": b'{"_id": "d1", "title": "A"}\n'}, "corpus.jsonl:1: missing field 'text'"),
    "corpus line not an object": ({"corpus": b'[1, 2]\n'}, "corpus.jsonl:1: a line must be a JSON object"),
    "query line not an object": ({"queries": b'"q1"\n'}, "queries.jsonl:1: a line must be a JSON object"),
    "query without text": ({"queries": b'{"_id": "q1"}\n'}, "queries.jsonl:1: missing field 'text'"),
    "corpus not UTF-8": ({"corpus": b'{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": "caf\xe9"}\n'},
                         "corpus.jsonl:2: not UTF-8"),
    "queries not UTF-8": ({"queries": b'{"_id": "q1", "text": "caf\xe9"}\n'}, "queries.jsonl:1: not UTF-8"),
    "judgments not UTF-8": ({"qrels": b"query-id\tcorpus-id\tscore\nq1\td\xe91\t1\n"}, "test.tsv:2: not UTF-8"),
    "inf score": ({"qrels": b"query-id\tcorpus-id\tscore\nq1\td1\tinf\n"}, "test.tsv:2: score 'inf' is not a number"),
}


@pytest.mark.parametrize("case", list(MALFORMED_BEIR))
def test_malformed_beir_folders_are_refused_and_leave_nothing(tmp_path, case):
    files, complaint = MALFORMED_BEIR[case]
    folder = beir_folder(tmp_path / "bench", **files)
    store = str(tmp_path / "store")
    proc = cli("eval", "--beir", str(folder), "--store", store, "--mode", "keyword", check=False)
    assert proc.returncode == 1 and complaint in proc.stderr, proc.stderr
    no_traceback(proc)
    assert "no collections yet" in cli("collections", "--store", store).stdout


@pytest.mark.parametrize("file", ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"])
@pytest.mark.parametrize("command", ["eval", "sweep"])
def test_a_folder_where_a_beir_file_should_be(tmp_path, file, command):
    folder = beir_folder(tmp_path / "bench")
    (folder / file).unlink()
    (folder / file).mkdir()
    store = tmp_path / "store"
    target = ["--store", str(store)] if command == "eval" else ["--scratch", str(store), "--chunkers", "whole"]
    proc = cli(command, "--beir", str(folder), *target, check=False)
    assert proc.returncode == 1 and f"{file} is a folder, not a file" in proc.stderr, proc.stderr
    no_traceback(proc)


@pytest.mark.parametrize("command", ["eval", "sweep"])
def test_a_run_that_fails_after_making_its_collection_leaves_none(tmp_path, command):
    """Every document is blank: the collection is made, the ingest finds no text, the run fails."""
    folder = beir_folder(tmp_path / "bench", corpus=b'{"_id": "d1", "title": "", "text": " "}\n'
                                                        b'{"_id": "d2", "title": "", "text": ""}\n')
    store = str(tmp_path / "store")
    target = ["--store", store] if command == "eval" else ["--scratch", store, "--chunkers", "whole"]
    proc = cli(command, "--beir", str(folder), *target, check=False)
    assert proc.returncode == 1 and "could not ingest" in proc.stderr, proc.stderr
    no_traceback(proc)
    assert "no collections yet" in cli("collections", "--store", store).stdout


def test_copy_of_a_collection_made_by_other_code_makes_one_of_ours(tmp_path):
    """Someone else's collection is read-only; copying it is how it becomes one of ours to change."""
    import chromadb

    theirs = tmp_path / "theirs"
    raw = chromadb.PersistentClient(str(theirs)).get_or_create_collection("notes", embedding_function=None)
    raw.add(ids=["a", "b"], documents=["one", "two"], embeddings=[[0.1] * 8, [0.2] * 8])
    before = sorted((p.name, p.stat().st_size) for p in theirs.rglob("*"))
    destination = str(tmp_path / "ours")
    proc = cli("copy", "--from", str(theirs), "--to", destination, "--collection", "notes")
    assert "copied 2 chunks of 'notes'" in proc.stdout
    listed = cli("collections", "--store", destination).stdout
    assert "notes" in listed and "imported:" in listed
    assert sorted((p.name, p.stat().st_size) for p in theirs.rglob("*")) == before
    empty = tmp_path / "empty-theirs"
    chromadb.PersistentClient(str(empty)).get_or_create_collection("nothing", embedding_function=None)
    proc = cli("copy", "--from", str(empty), "--to", destination, "--collection", "nothing", check=False)
    assert proc.returncode == 1 and "holds no vectors" in proc.stderr
    no_traceback(proc)


def test_a_store_path_that_is_a_file_is_named_not_errno(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a store")
    for store in (a_file, a_file / "sub"):
        proc = cli("collections", "--store", str(store), check=False)
        assert proc.returncode == 1 and f"{a_file} is a file" in proc.stderr, proc.stderr
        no_traceback(proc)


def test_an_empty_store_url_is_not_the_current_folder(tmp_path):
    """`--to "$DATABASE_URL"` with the variable unset used to make a store in the working folder."""
    proc = cli("copy", "--from", str(tmp_path / "s"), "--to", "", "--collection", "x", check=False)
    assert proc.returncode == 1 and "the store URL is empty" in proc.stderr, proc.stderr
    assert not (ROOT / ".explorer.lock").exists() and not (ROOT / "chroma.sqlite3").exists()


def test_progress_is_printed_as_lines_when_stderr_is_not_a_terminal(tmp_path, monkeypatch):
    """Captured stderr is not a terminal: instead of a bar's redraws, lines with done/total, rate, time left
    (here at every event, so that a quick ingest prints some)."""
    monkeypatch.setenv("EXPLORER_PROGRESS_SECONDS", "0")
    proc = cli("ingest", FRANKENSTEIN, "--store", str(tmp_path / "store"), "--collection", "lines")
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ingest: ")]
    assert lines and "\r" not in proc.stderr  # no bar redraws
    assert all(re.match(r"ingest: [\w -]+ [\d,]+", line) for line in lines), lines  # rate: the test below
    assert lines[-1].startswith("ingest: done "), lines


def test_progress_lines_come_every_few_seconds_with_rate_and_time_left(capsys):
    from core.cli.ingest import ProgressLines
    from core.types import ProgressEvent

    now = [0.0]
    lines = ProgressLines("ingest", every=5.0, clock=lambda: now[0])
    for second in range(0, 13):
        now[0] = float(second)
        lines(ProgressEvent("embedding", second * 100, 2_000))
    lines.finish()
    printed = capsys.readouterr().err.splitlines()
    assert printed == ["ingest: embedding 500/2,000 100.0/s about 15s left",
                       "ingest: embedding 1,000/2,000 100.0/s about 10s left",
                       "ingest: embedding 1,200/2,000 100.0/s about 8s left"]  # how it ended
    quick = ProgressLines("ingest", every=5.0, clock=lambda: now[0])
    quick(ProgressEvent("embedding", 1, 2))
    quick.finish()
    assert capsys.readouterr().err == ""  # work shorter than the interval prints nothing
