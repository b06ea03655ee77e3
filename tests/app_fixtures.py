"""A small real sample store for app and browser tests.

The full sample corpus takes minutes to embed on two cores; the app tests use
the opening of each sample (same files, same categories, same chunker) so every
page has three categories of real text to show, built once per test session.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from core.config import DEFAULT_CHUNKING, SAMPLE_COLLECTION
from core.pipeline import LoadOptions, Upload, ingest
from core.samples import samples
from core.stores import open_store

EXCERPT_CHARS = 25_000


def build_sample_store(folder: Path, embedder, chars: int = EXCERPT_CHARS) -> str:
    """The sample collection from the first `chars` characters of each sample file."""
    collection = open_store(str(folder)).open_collection(SAMPLE_COLLECTION, embedder.info)
    for sample in samples():
        text = sample.path.read_text(encoding="utf-8")[:chars]
        ingest([Upload(sample.path.name, text.encode("utf-8"))], collection, embedder, DEFAULT_CHUNKING,
               LoadOptions(category=sample.category))
    return str(folder)


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory, minilm) -> str:
    """Path of a Chroma folder holding the 'samples' collection (excerpts). Treat it as read-only:
    tests that write should ingest into a collection of their own or a store of their own."""
    return build_sample_store(tmp_path_factory.mktemp("sample-store"), minilm)


@pytest.fixture
def app_env(sample_store: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Points the app (EXPLORER_STORE) at the sample store; returns its path."""
    monkeypatch.setenv("EXPLORER_STORE", sample_store)
    return sample_store
