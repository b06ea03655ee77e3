"""The embedders: the offline MiniLM model on real text, OpenAI through its real SDK."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from core.embedders import Embedder, available_embedders, get_embedder
from core.errors import EmbedderUnavailable, ProviderError
from tests.conftest import LONG_DOCS, ROOT
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


@pytest.mark.parametrize("embedder", ["minilm", "static"])  # the bundled model and its distilled static form
def test_meaning(embedder, request):
    query, near, far = request.getfixturevalue(embedder).embed([
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


# -- minilm-static: MiniLM distilled into static word-piece vectors (core/distill.py) ------------------

@pytest.fixture(scope="module")
def static():
    """The real distilled model: made from the bundled MiniLM on first use (about a minute), then cached."""
    return get_embedder("minilm-static")


def test_static_shapes_norms_protocol_and_listing(static, minilm, paragraphs):
    assert isinstance(static, Embedder) and static.info.dimension == 256
    assert {s.name: s for s in available_embedders()}["minilm-static"].available
    vectors = static.embed(paragraphs)
    assert vectors.dtype == np.float32 and vectors.shape == (len(paragraphs), 256)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert static.embed([]).shape == (0, 256)
    # A text without a known word piece still gets a unit vector (what MiniLM gives an empty text).
    empty, symbols = static.embed(["", "\u2603\u2603"])
    assert np.allclose(empty, symbols) and np.linalg.norm(empty) == pytest.approx(1.0, abs=1e-5)
    # Nothing is truncated: the tail of a long text changes its vector.
    long_text = " ".join(["embedding"] * 600)
    assert static.count_tokens([long_text]) == [minilm.count_tokens([long_text])[0] - 2]  # MiniLM's pieces
    a, b = static.embed([long_text, long_text + " completely different ending about volcanoes"])
    assert not np.allclose(a, b, atol=1e-5)  # MiniLM gives the same vector for both


def test_static_is_deterministic_across_batches_and_processes(static, paragraphs):
    together = static.embed(paragraphs)
    assert np.array_equal(np.vstack([static.embed([p]) for p in paragraphs[:8]]), together[:8])
    script = ("import sys, numpy as np; from core.embedders import get_embedder; "
              "np.save(sys.stdout.buffer, get_embedder('minilm-static').embed(sys.stdin.read().split('\\x00'))); "
              "assert 'torch' not in sys.modules, 'inference must not need torch'")
    out = subprocess.run([sys.executable, "-c", script], input="\x00".join(paragraphs[:8]).encode(),
                         capture_output=True, timeout=120, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr.decode()
    assert np.array_equal(np.load(io.BytesIO(out.stdout)), together[:8])


def test_static_model_is_a_plain_model2vec_folder(static):
    from model2vec import StaticModel

    from core.distill import static_model_folder

    plain = StaticModel.from_pretrained(static_model_folder(), force_download=False)
    texts = ["The creature fled across the glaciers.", "Mr. Darcy's proposal"]
    assert np.allclose(plain.encode(texts), static.embed(texts), atol=1e-6)


def test_a_static_collection_records_its_model_and_dimension(static, tmp_path):
    from core.pipeline import Upload, ingest
    from core.stores import open_store
    from core.types import ChunkSettings
    from core.workspace import open_workspace

    text = (LONG_DOCS / "pg84_frankenstein.txt").read_text(encoding="utf-8")[20_000:40_000]
    workspace = open_workspace(str(tmp_path / "store"), "fast", "minilm-static", create=True)
    ingest([Upload("frankenstein.txt", text.encode("utf-8"))], workspace.collection, workspace.embedder,
           ChunkSettings(method="recursive", size=128, overlap=0, unit="tokens"))
    store = open_store(str(tmp_path / "store"))
    assert store.collection_embedder("fast").name == "minilm-static"
    assert store.collection_embedder("fast").dimension == 256
    reopened = open_workspace(store, "fast")  # the collection picks its own model, not the default
    assert reopened.embedder.name == "minilm-static"
    stored = reopened.collection.get(include_embeddings=True, limit=3)
    assert stored.embeddings.shape == (3, 256)
    assert np.allclose(stored.embeddings, static.embed(stored.texts), atol=1e-5)


def test_bow_hash_never_gives_a_zero_vector_and_check_is_healthy_after_an_ingest(tmp_path):
    """Short texts (no word, only stop words, or words in buckets the sparse projection reads nowhere:
    about half of them) were stored as all-zero vectors, which `check` then called unusable. Refusing
    zero vectors is the project's rule (import refuses them), so bow-hash gives every text a direction."""
    texts = ["Yes.", "OK", "42", "!!!", "the end", "a", "It is what it is.", "Glaciers retreat."]
    vectors = get_embedder("bow-hash").embed(texts)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(get_embedder("bow-hash").embed(["Yes."]), vectors[:1])  # same text, same vector
    rows = tmp_path / "short.csv"
    rows.write_text("id,text\n" + "".join(f"{n},{t}\n" for n, t in enumerate(texts)))
    store = str(tmp_path / "store")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    for args in (["ingest", str(rows), "--embedder", "bow-hash"], ["check"]):
        proc = subprocess.run([sys.executable, "-m", "core", *args, "--store", store], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_cached_zero_vector_is_embedded_again(tmp_path):
    """Zero vectors an older bow-hash left in the embedding cache are not reused."""
    from core.embedding_cache import EmbeddingCache, text_hash

    cache, model = EmbeddingCache(tmp_path / "cache.sqlite"), get_embedder("bow-hash").info
    cache.put(model, [text_hash("Yes."), text_hash("Glaciers")], np.stack([np.zeros(384), np.ones(384)]))
    assert list(cache.get(model, [text_hash("Yes."), text_hash("Glaciers")])) == [text_hash("Glaciers")]
