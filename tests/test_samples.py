"""The built-in samples: what of each file the app ingests."""
from __future__ import annotations

from core.samples import samples


def test_gutenberg_books_are_ingested_without_header_and_license():
    by_file = {s.path.name: s for s in samples()}
    assert {s.category for s in by_file.values()} == {"romance novel", "gothic novel", "technical spec"}
    for name, first_words in (("pg1342_pride_and_prejudice.txt", "It is a truth universally acknowledged"),
                              ("pg84_frankenstein.txt", "You will rejoice to hear")):
        whole = by_file[name].path.read_text(encoding="utf-8")
        body = by_file[name].body()
        assert "PROJECT GUTENBERG" in whole and "Project Gutenberg" in whole
        assert "PROJECT GUTENBERG" not in body and "Project Gutenberg License" not in body
        assert first_words in body and body in whole and len(body) > 0.9 * len(whole)
    spec = by_file["commonmark_spec.txt"]
    assert spec.body() == spec.path.read_text(encoding="utf-8")  # not a Gutenberg file: all of it
