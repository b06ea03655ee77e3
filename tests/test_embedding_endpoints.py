"""OpenAI-compatible embedding servers (Ollama, vLLM, TEI) through the real SDK, against a local server."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.embedders import available_embedders, get_embedder
from core.embedders import _endpoint  # the per-process cache, cleared between tests
from core.errors import EmbedderUnavailable, ProviderError
from core.pipeline import ingest
from core.search import search
from core.types import ChunkSettings
from core.workspace import open_workspace
from tests.fake_openai import FakeOpenAI, vector_for


@pytest.fixture
def endpoint(monkeypatch):
    """A running fake server configured as the endpoint 'nomic', its key in a secret of its own."""
    with FakeOpenAI(api_key="endpoint-key", delay=0.05) as server:
        monkeypatch.setenv("TEST_ENDPOINT_KEY", "endpoint-key")
        monkeypatch.setenv("EXPLORER_EMBEDDING_ENDPOINTS", json.dumps({"nomic": {
            "base_url": server.base_url, "model": "nomic-embed-text", "api_key_env": "TEST_ENDPOINT_KEY",
            "batch_size": 4, "concurrency": 3}}))
        _endpoint.cache_clear()
        yield server
        _endpoint.cache_clear()


def test_configured_endpoint_is_an_embedder_with_its_dimension_from_a_first_call(endpoint):
    assert "endpoint:nomic" in {spec.name for spec in available_embedders()}
    embedder = get_embedder("endpoint:nomic")
    assert embedder.info.dimension == 768 and len(endpoint.requests) == 1


def test_queries_and_documents_get_the_model_prefixes(endpoint):
    embedder = get_embedder("endpoint:nomic")
    documents = embedder.embed_documents(["a cat", "a dog"])
    query = embedder.embed_query(["cats"])
    sent = [text for r in endpoint.requests for text in r["body"]["input"]]
    assert "search_document: a cat" in sent and "search_query: cats" in sent
    expected = vector_for("search_document: a cat", 768)
    np.testing.assert_allclose(documents[0], expected / np.linalg.norm(expected), atol=1e-5)
    assert query.shape == (1, 768) and np.allclose(np.linalg.norm(documents, axis=1), 1)


def test_batches_go_out_in_parallel_within_the_bound_and_in_order(endpoint):
    embedder = get_embedder("endpoint:nomic")
    texts = [f"text number {n}" for n in range(40)]  # 10 batches of 4
    vectors = embedder.embed_documents(texts)
    assert 1 < endpoint.most_in_flight <= 3
    for n in (0, 17, 39):
        expected = vector_for("search_document: " + texts[n], 768)
        np.testing.assert_allclose(vectors[n], expected / np.linalg.norm(expected), atol=1e-5)


def test_a_collection_made_by_an_endpoint_remembers_it(endpoint, tmp_path):
    source = tmp_path / "notes.txt"
    source.write_text("Ollama serves embedding models.\n\nvLLM serves them too, at scale.\n")
    workspace = open_workspace(str(tmp_path / "store"), "served", "endpoint:nomic", create=True)
    ingest([source], workspace.collection, workspace.embedder, ChunkSettings(method="paragraph", unit="chars"))
    again = open_workspace(str(tmp_path / "store"), "served")
    assert again.embedder.name == "endpoint:nomic" and again.collection.embedder.dimension == 768
    assert search(again.collection, again.embedder, "Ollama", mode="hybrid", k=2)
    assert any("search_query: Ollama" in r["body"]["input"] for r in endpoint.requests)


def test_unknown_and_unreachable_endpoints_say_so(endpoint, monkeypatch):
    with pytest.raises(EmbedderUnavailable, match="no embedding endpoint 'other'"):
        get_embedder("endpoint:other")
    monkeypatch.setenv("EXPLORER_EMBEDDING_ENDPOINTS", json.dumps({"gone": {
        "base_url": "http://127.0.0.1:9/v1", "model": "nomic-embed-text"}}))
    _endpoint.cache_clear()
    with pytest.raises(ProviderError, match="cannot reach the embedding endpoint 'gone'"):
        get_embedder("endpoint:gone").embed(["x"])
