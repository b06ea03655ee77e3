"""Real sample stores for app, browser and RAG tests, built once per test session.

Both use the vectors shipped with the samples (`core.samples.with_shipped_vectors`),
so building them is an upsert, not minutes of embedding: the app tests use the
opening of each sample (same files, same categories, same chunker; only the cut
last chunk of each is embedded), so every page has three categories of real text
and maps stay small; `full_sample_store` is the whole corpus the app opens on.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from core.config import DEFAULT_CHUNKING, SAMPLE_COLLECTION
from core.pipeline import LoadOptions, ingest
from core.samples import ensure_samples, samples, seed_sentence_vectors, with_shipped_vectors
from core.stores import open_store

EXCERPT_CHARS = 25_000


def build_sample_store(folder: Path, embedder, chars: int = EXCERPT_CHARS) -> str:
    """The sample collection from the first `chars` characters of each sample's body."""
    collection = open_store(str(folder)).open_collection(SAMPLE_COLLECTION, embedder.info)
    seed_sentence_vectors(embedder)  # so extractive answers embed no sample sentence
    fast = with_shipped_vectors(embedder)
    for sample in samples():
        ingest([sample.upload(chars)], collection, fast, DEFAULT_CHUNKING, LoadOptions(category=sample.category))
    return str(folder)


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory, minilm) -> str:
    """Path of a Chroma folder holding the 'samples' collection (excerpts). Treat it as read-only:
    tests that write should ingest into a collection of their own or a store of their own."""
    return build_sample_store(tmp_path_factory.mktemp("sample-store"), minilm)


@pytest.fixture(scope="session")
def full_sample_store(tmp_path_factory: pytest.TempPathFactory, minilm) -> str:
    """Path of a Chroma folder holding the whole 'samples' collection, as `ensure_samples` makes it. Read-only."""
    folder = tmp_path_factory.mktemp("full-sample-store")
    ensure_samples(open_store(str(folder)), minilm)
    return str(folder)


@pytest.fixture
def app_env(sample_store: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Points the app (EXPLORER_STORE) at the sample store; returns its path."""
    monkeypatch.setenv("EXPLORER_STORE", sample_store)
    return sample_store
