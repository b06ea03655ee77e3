"""The embedders: the offline MiniLM model on real text, OpenAI through its real SDK."""
from __future__ import annotations

import numpy as np
import pytest

from core.embedders import Embedder, available_embedders, get_embedder
from core.errors import EmbedderUnavailable, ProviderError
from tests.conftest import LONG_DOCS
from tests.fake_openai import FakeOpenAI, vector_for


@pytest.fixture(scope="module")
def paragraphs() -> list[str]:
    text = (LONG_DOCS / "pg1342_pride_and_prejudice.txt").read_text(encoding="utf-8")
    paras = [p.strip() for p in text.split("\n\n") if len(p.strip()) > 40]
    return paras[200:264]


def test_minilm_shapes_norms_and_protocol(minilm, paragraphs):
    assert isinstance(minilm, Embedder)
    vectors = minilm.embed(paragraphs)
    assert vectors.dtype == np.float32 and vectors.shape == (len(paragraphs), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.embed([]).shape == (0, 384)


def test_minilm_batching_and_order_do_not_change_vectors(minilm, paragraphs):
    together = minilm.embed(paragraphs)
    one_by_one = np.vstack([minilm.embed([p]) for p in paragraphs[:8]])
    # Padding to the longest text of a batch must not leak into the mean pooling.
    assert np.allclose(together[:8], one_by_one, atol=2e-3)
    reversed_order = minilm.embed(paragraphs[::-1])[::-1]
    assert np.allclose(together, reversed_order, atol=2e-3)


def test_minilm_meaning(minilm):
    query, near, far = minilm.embed([
        "Who does Elizabeth Bennet marry?",
        "Elizabeth accepted Mr. Darcy's proposal of marriage.",
        "The creature fled across the glaciers of Mont Blanc.",
    ])
    assert float(query @ near) > float(query @ far) + 0.2


def test_minilm_truncates_at_256_word_pieces_and_counts_tokens(minilm):
    long_text = " ".join(["embedding"] * 600)
    assert minilm.count_tokens([long_text])[0] > 256
    assert minilm.count_tokens(["hello world"]) == [4]  # [CLS] hello world [SEP]
    # Everything past 256 word pieces is cut: the tail does not change the vector.
    a, b = minilm.embed([long_text, long_text + " completely different ending about volcanoes"])
    assert float(a @ b) > 0.9999


def test_unknown_embedder_is_a_clear_error():
    with pytest.raises(EmbedderUnavailable, match="unknown embedder 'nope'"):
        get_embedder("nope")


def test_openai_without_key_is_unavailable_and_says_so(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    specs = {s.name: s for s in available_embedders()}
    assert specs["minilm"].available and not specs["openai-small"].available
    with pytest.raises(EmbedderUnavailable, match="OPENAI_API_KEY"):
        get_embedder("openai-small")


def test_openai_through_the_real_sdk_batches_and_normalises(monkeypatch):
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        embedder = get_embedder("openai-small")
        texts = [f"passage number {i}" for i in range(2500)] + [""]
        vectors = embedder.embed(texts)
    assert vectors.shape == (2501, 1536) and embedder.info.dimension == 1536
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    expected = vector_for("passage number 7", 1536)
    assert np.allclose(vectors[7], expected / np.linalg.norm(expected), atol=1e-5)
    sizes = [len(r["body"]["input"]) for r in server.requests]
    assert sizes == [2048, 453]
    assert all(r["body"]["model"] == "text-embedding-3-small" for r in server.requests)


def test_openai_bad_key_and_server_errors_are_clear_and_never_show_the_key(monkeypatch):
    with FakeOpenAI(api_key="sk-right") as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-secret-123")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        with pytest.raises(ProviderError) as err:
            get_embedder("openai-large").embed(["hello"])
    assert "rejected the API key" in str(err.value) and "sk-wrong" not in str(err.value)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens on the discard port
    with pytest.raises(ProviderError, match="cannot reach"):
        get_embedder("openai-small").embed(["hello"])


def test_plain_chromadb_reopens_a_collection_with_its_own_embedder(minilm, tmp_path):
    """A persisted collection remembers its embedder: plain chromadb code that asks by
    text embeds with MiniLM through our registered EmbeddingFunction, not Chroma's default."""
    import subprocess
    import sys

    from core.stores import open_store
    from core.types import Chunk

    store = open_store(str(tmp_path / "store"))
    collection = store.open_collection("books", minilm.info)
    texts = ["Elizabeth Bennet married Mr. Darcy.", "Victor Frankenstein built a creature."]
    chunks = [Chunk(id=f"c{i}", text=t, source="s", start=0, end=len(t), index=i, metadata={"source": "s"})
              for i, t in enumerate(texts)]
    collection.upsert(chunks, minilm.embed(texts))
    script = f"""
import chromadb, core.stores.chroma
client = chromadb.PersistentClient(path={str(tmp_path / 'store')!r})
col = client.get_collection('books')
ef = col.configuration['embedding_function']
print(type(ef).__name__, ef.get_config())
print(col.query(query_texts=['Who did Elizabeth marry?'], n_results=1)['ids'][0][0])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["ExplorerEmbeddingFunction {'embedder': 'minilm'}", "c0"]
