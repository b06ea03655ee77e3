"""`python -m core` as a user runs it: real subprocesses, real store folder, no network."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import LONG_DOCS, ROOT

BOOKS = sorted(str(p) for p in LONG_DOCS.glob("*.txt") if "LICENSE" not in p.name)
# Files given one by one are known by their full paths.
PRIDE, FRANKENSTEIN = str(LONG_DOCS / "pg1342_pride_and_prejudice.txt"), str(LONG_DOCS / "pg84_frankenstein.txt")


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


@pytest.mark.parametrize("command", ["ingest", "search", "collections", "samples"])
def test_every_command_has_help(command):
    assert "usage:" in cli(command, "--help").stdout
