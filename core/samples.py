"""The built-in sample corpus the app opens on when nothing else is loaded:
two public-domain novels and a technical spec, each with its own category, so
clusters, search and chat have something real to show on the first run.

The samples' vectors ship with them (`data/samples/vectors.npz`, float16, written
by `write_sample_vectors`), so a fresh store is ready in seconds instead of
minutes of embedding. They are looked up by the chunk's TEXT (its content hash),
not by chunk id: ids may change with how documents are identified, the text of a
chunk cut the same way does not. A chunk whose text is not shipped (the chunking
or the files changed) is embedded as usual, so a stale file costs time, never
correctness; `tests/test_samples.py` checks the file against the live model.
The vectors of the samples' sentences (for extractive answers) ship the same way
(`data/samples/sentence_vectors.npz`) and are put into the embedding cache.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .chunking import chunk_documents
from .config import DEFAULT_CHUNKING, SAMPLE_COLLECTION, SAMPLES_DIR
from .embedders import Embedder, normalise
from .embedding_cache import EmbeddingCache, text_hash
from .loaders import load_bytes
from .pipeline import IngestReport, LoadOptions, Upload, ingest
from .sentence_index import embed_with_cache, sentences
from .stores import Store
from .types import Chunk, EmbedderInfo, ProgressCallback, ProgressEvent, content_hash, no_progress

SAMPLE_VECTORS = SAMPLES_DIR / "vectors.npz"
# The samples' sentences' vectors (core.sentence_index, for extractive answers), keyed as the embedding
# cache keys them (sha256 of the text): `seed_sentence_vectors` puts them there, so the first question on
# the samples reads them instead of embedding 9,900 sentences (minutes on two cores).
SAMPLE_SENTENCE_VECTORS = SAMPLES_DIR / "sentence_vectors.npz"
# Questions about the samples with their gold answer spans (core.answer_eval, bench/bench_answers.py).
ANSWER_QUESTIONS = SAMPLES_DIR / "answer_questions.jsonl"
# Offered on the chat and search pages when the sample collection is open: from ANSWER_QUESTIONS, each
# one the offline answer quotes the gold span for in its first sentence (bench/results/answers.md).
EXAMPLE_QUESTIONS = ("What does a single man in possession of a good fortune want?",
                     "Which university does Victor attend?",
                     "How do I write a fenced code block?")

# Project Gutenberg files wrap the book in a header and a long license footer; the
# files ship whole (the license asks for that), but only the book is worth searching.
GUTENBERG_BODY = re.compile(r"\*\*\* START OF TH(?:E|IS) PROJECT GUTENBERG EBOOK[^\n]*\n(.*?)\*\*\* END OF TH", re.S)


@dataclass(frozen=True)
class Sample:
    path: Path
    title: str
    category: str

    def body(self) -> str:
        """The text worth ingesting: the book itself for a Project Gutenberg file, else all of it."""
        text = self.path.read_text(encoding="utf-8")
        match = GUTENBERG_BODY.search(text)
        return match.group(1).strip() if match else text

    def upload(self, chars: int | None = None) -> Upload:
        """The body (or its first `chars` characters) as the pipeline ingests it."""
        return Upload(self.path.name, self.body()[:chars].encode("utf-8"))


def samples() -> list[Sample]:
    entries = json.loads((SAMPLES_DIR / "manifest.json").read_text(encoding="utf-8"))
    return [Sample(SAMPLES_DIR / e["file"], e["title"], e["category"]) for e in entries]


# The chunking sweep's default on the samples: questions judged per passage (data/samples/sweep_questions.csv),
# over the opening of each sample that holds every passage, so the default run takes well under a minute.
SWEEP_QUESTIONS = SAMPLES_DIR / "sweep_questions.csv"
SWEEP_CHARS = 95_000


def example_questions(collection: str) -> tuple[str, ...]:
    """Questions worth trying in `collection`: the samples' own, none for a collection we know nothing of."""
    return EXAMPLE_QUESTIONS if collection == SAMPLE_COLLECTION else ()


def sample_chunks(embedder: Embedder) -> Iterator[Chunk]:
    """Every chunk of the samples, cut as `ensure_samples` cuts them."""
    for sample in samples():
        upload = sample.upload()
        docs = load_bytes(upload.name, upload.data, category=sample.category)
        yield from chunk_documents(docs, DEFAULT_CHUNKING, count_tokens=embedder.count_tokens)


# -- shipped vectors ----------------------------------------------------------------------

@dataclass(frozen=True)
class ShippedVectors:
    """Vectors of known texts, by content hash of the text, for one model."""

    model: str
    vectors: dict[str, np.ndarray]  # content_hash(text) -> float16 vector

    def lookup(self, text: str) -> np.ndarray | None:
        return self.vectors.get(content_hash(text))


def load_shipped_vectors(path: Path = SAMPLE_VECTORS) -> ShippedVectors | None:
    """The shipped vectors, or None when the file is missing or unreadable (then everything is embedded)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            hashes, vectors, model = data["text_hashes"], data["vectors"], str(data["model"])
    except (OSError, KeyError, ValueError):
        return None
    return ShippedVectors(model, dict(zip(hashes.tolist(), vectors)))


def write_sample_vectors(embedder: Embedder, path: Path = SAMPLE_VECTORS,
                         progress: ProgressCallback = no_progress) -> int:
    """Embed every sample chunk with `embedder` and save the vectors (float16) keyed by text hash."""
    texts = sorted({c.text for c in sample_chunks(embedder)})
    parts = []
    for lo in range(0, len(texts), 256):
        parts.append(embedder.embed(texts[lo:lo + 256]))
        progress(ProgressEvent("embedding", min(lo + 256, len(texts)), len(texts)))
    np.savez_compressed(path, model=np.array(embedder.name), text_hashes=np.array([content_hash(t) for t in texts]),
                        vectors=np.concatenate(parts).astype(np.float16))
    return len(texts)


class PrecomputedEmbedder:
    """An embedder that answers known texts from shipped vectors and embeds only the rest.

    It is the wrapped model as far as any collection can tell (same name and
    dimension): the shipped vectors were made by that model, and a test keeps them
    within cosine 0.999 of it."""

    def __init__(self, model: Embedder, shipped: ShippedVectors):
        if shipped.model != model.name:
            raise ValueError(f"vectors shipped for {shipped.model}, not {model.name}")
        self._model, self._shipped = model, shipped
        self.name, self.dimension, self.max_tokens = model.name, model.dimension, model.max_tokens
        self.embedded = 0  # texts the model had to embed (not shipped)

    @property
    def info(self) -> EmbedderInfo:
        return self._model.info

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._model.count_tokens(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        found = [self._shipped.lookup(t) for t in texts]
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        missing = [i for i, v in enumerate(found) if v is None]
        if missing:
            out[missing] = self._model.embed([texts[i] for i in missing])
            self.embedded += len(missing)
        known = [i for i, v in enumerate(found) if v is not None]
        if known:
            out[known] = normalise(np.stack([found[i] for i in known]))
        return out


def sample_sentences(embedder: Embedder) -> list[str]:
    """Every distinct sentence of the samples' chunks, as the sentence index cuts them."""
    return sorted({s for c in sample_chunks(embedder) for s in sentences(c.text)})


def write_sentence_vectors(embedder: Embedder, path: Path = SAMPLE_SENTENCE_VECTORS,
                           progress: ProgressCallback = no_progress) -> int:
    """Embed every sample sentence with `embedder` and save the vectors (float16) keyed by text hash."""
    texts = sample_sentences(embedder)
    vectors = embed_with_cache(embedder, texts, EmbeddingCache.default(), progress)
    np.savez_compressed(path, model=np.array(embedder.name), text_hashes=np.array([text_hash(t).hex() for t in texts]),
                        vectors=vectors.astype(np.float16))
    return len(texts)


def seed_sentence_vectors(embedder: Embedder, cache: EmbeddingCache | None = None,
                          path: Path = SAMPLE_SENTENCE_VECTORS) -> int:
    """Put the shipped sentence vectors into the embedding cache (once: nothing when it holds them already,
    or when they are missing or were made by another model); how many were put."""
    cache = cache or EmbeddingCache.default()
    try:
        with np.load(path, allow_pickle=False) as data:
            hashes, vectors, model = data["text_hashes"], data["vectors"], str(data["model"])
    except (OSError, KeyError, ValueError):
        return 0
    keys = [bytes.fromhex(h) for h in hashes.tolist()]
    if model != embedder.name or not keys or len(cache.get(embedder.info, keys[:1] + keys[-1:])) == 2:
        return 0
    cache.put(embedder.info, keys, normalise(vectors.astype(np.float32)))
    return len(keys)


def with_shipped_vectors(embedder: Embedder) -> Embedder:
    """`embedder` answering the samples' texts from the shipped vectors when they fit it."""
    shipped = load_shipped_vectors()
    if shipped is None or shipped.model != embedder.name:
        return embedder
    return PrecomputedEmbedder(embedder, shipped)


def ensure_samples(store: Store, embedder: Embedder, progress: ProgressCallback = no_progress) -> IngestReport:
    """Ingest the samples into the sample collection (shipped vectors, so only chunks not shipped are
    embedded); a no-op when they are already there."""
    collection = store.open_collection(SAMPLE_COLLECTION, embedder.info)
    seed_sentence_vectors(embedder)
    fast = with_shipped_vectors(embedder)
    report = IngestReport()
    for sample in samples():
        part = ingest([sample.upload()], collection, fast, DEFAULT_CHUNKING, LoadOptions(category=sample.category),
                      progress=progress)
        report.merge(part)
    if isinstance(fast, PrecomputedEmbedder):  # what the pipeline counts as embedded came from the shipped file
        report.chunks_embedded = fast.embedded
    return report
