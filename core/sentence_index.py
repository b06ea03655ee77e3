"""Every sentence of a collection, with its vector and its BM25 terms: where an extractive answer looks.

An answer is one sentence, and the sentence that answers is often in a chunk that ranks poorly as a whole
(a chunk about many things). So the extractive reader does not read the top chunks' sentences only: it
scores every sentence of the collection, which costs milliseconds once the sentences are split and embedded.

The index is built once per collection version (the key of every cache): every stored chunk split into
sentences (in document order, so a sentence knows its neighbours), each embedded with the collection's
model through the embedding cache (so a write re-embeds only the sentences it brought), kept on disk
under data/cache/sentences and in memory per process. BM25 over the sentences is `core.keyword`'s.
"""
from __future__ import annotations

import io
import json
import re
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from .cache_lock import one_builder
from .config import DATA_DIR
from .embedders import Embedder, normalise
from .embedding_cache import EmbeddingCache, text_hash
from .keyword import BM25Settings, MemoryBM25
from .projection import write_cache_file
from .stores.base import Collection
from .types import Filter, Metadata, ProgressCallback, ProgressEvent, content_hash, no_progress

SENTENCE_CACHE_DIR = DATA_DIR / "cache" / "sentences"
SPLITTING = "2"  # part of an index file's key: a change to how sentences are cut must not read older files
EMBED_BATCH = 256  # sentences embedded per progress report
# The question's own words ("who", "does", "what") say nothing about which sentence answers: the longer list.
SENTENCE_BM25 = BM25Settings(stopwords="en_plus")

# -- sentences --------------------------------------------------------------------------

# A sentence ends at . ! or ? (and any closing quotes or brackets), before whitespace and a capital,
# digit or opening quote; not after a title like "Mr." or a single initial.
_SENTENCE_END = re.compile(r"""[.!?]+["'”’)\]]*\s+(?=["'“‘(\[]?[A-Z0-9])""")
_NOT_AN_END = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Sr|Jr|Prof|Capt|Col|Gen|Rev|vs|etc|e\.g|i\.e)|\b[A-Z])\.$")
_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\n[ \t\r\f\v]*\n|\s*$)", re.S)
MIN_SENTENCE_CHARS = 25
PROSE_SHARE = 0.85  # letters and spaces in a sentence; below it is code, a table row or a URL, not an answer
INLINE_CODE = re.compile(r"`+[^`\n]*?`+")  # `#`, ``` `` ` `` ```: markup a how-to answer names, not code


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Where the sentences of a chunk are, in order; headings, fragments and code left out."""
    spans = []
    for paragraph in _PARAGRAPH.finditer(text):
        body, offset, start = paragraph.group(), paragraph.start(), 0
        for end in _SENTENCE_END.finditer(body):
            if _NOT_AN_END.search(body[start:end.start() + 1]):
                continue
            spans.append((offset + start, offset + end.start() + len(end.group().rstrip())))
            start = end.end()
        spans.append((offset + start, offset + len(body)))
    return [(a, b) for a, b in spans if _is_prose(" ".join(text[a:b].split()))]


def _is_prose(sentence: str) -> bool:
    """Long enough, and mostly words and ordinary punctuation once inline code (`#`) and link targets are set
    aside; a code block is not. ("_To Mrs. Saville, England._" is prose; "| a | b |" and "x = f(y);" are not.)"""
    text = _LINK_TARGET.sub("]", sentence)
    words = INLINE_CODE.sub("", text)
    return (len(sentence) >= MIN_SENTENCE_CHARS and "```" not in sentence and len(words) >= 0.5 * len(text)
            and sum(ch.isalnum() or ch.isspace() or ch in _PROSE_PUNCTUATION for ch in words) >= PROSE_SHARE * len(words))


_LINK_TARGET = re.compile(r"\]\([^)\s]*\)")  # a Markdown link's target: "[list marker](@)", "[spec](https://...)"
_PROSE_PUNCTUATION = frozenset(".,;:!?'\"’‘“”()-—_")


def sentences(text: str) -> list[str]:
    """The sentences of a chunk in order, whitespace collapsed; headings, fragments and code dropped."""
    return [" ".join(text[a:b].split()) for a, b in sentence_spans(text)]


# -- the index ----------------------------------------------------------------------------

@dataclass(frozen=True)
class IndexedChunk:
    """A chunk as an answer cites it."""

    id: str
    text: str
    source: str
    category: str
    row: str


class SentenceIndex:
    """Sentences (whitespace collapsed) in document order, each with the chunk it sits in, its span there,
    its unit vector and its neighbours in the same document."""

    def __init__(self, chunks: Sequence[IndexedChunk], chunk_of: np.ndarray, spans: np.ndarray,
                 vectors: np.ndarray):
        self.chunks = list(chunks)
        self.chunk_of = np.asarray(chunk_of, dtype=np.int64)
        self.spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.texts = [" ".join(self.chunks[c].text[a:b].split()) for c, (a, b) in zip(self.chunk_of, self.spans)]

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def bm25(self) -> MemoryBM25:
        return MemoryBM25(self.texts, SENTENCE_BM25)

    @cached_property
    def neighbours(self) -> tuple[np.ndarray, np.ndarray]:
        """Each sentence's previous and next sentence in the same document (itself at a document's ends)."""
        sources = [self.chunks[c].source for c in self.chunk_of]
        n = len(sources)
        previous = np.array([i - 1 if i > 0 and sources[i - 1] == sources[i] else i for i in range(n)], dtype=np.int64)
        following = np.array([i + 1 if i + 1 < n and sources[i + 1] == sources[i] else i for i in range(n)],
                             dtype=np.int64)
        return previous, following

    @cached_property
    def window_vectors(self) -> np.ndarray:
        """Each sentence with its neighbours (the mean of the three vectors), as unit vectors: the passage
        around it, whose meaning is closer to a question than that of an answering sentence saying "he"."""
        previous, following = self.neighbours
        return normalise(self.vectors[previous] + self.vectors + self.vectors[following])

    def allowed(self, where: Filter | None) -> np.ndarray:
        """Which sentences a filter lets an answer quote."""
        if where is None or where.is_empty():
            return np.ones(len(self), dtype=bool)
        ok = np.array([(not where.categories or c.category in where.categories)
                       and (not where.sources or c.source in where.sources) for c in self.chunks], dtype=bool)
        return ok[self.chunk_of] if len(self.chunk_of) else np.zeros(0, dtype=bool)


def _document_order(metadata: Metadata) -> tuple:
    return (str(metadata.get("source", "")), str(metadata.get("row", "")), int(metadata.get("index", 0) or 0),
            int(metadata.get("start", 0) or 0))


def build_sentence_index(ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[Metadata], embedder: Embedder,
                         cache: EmbeddingCache | None = None,
                         progress: ProgressCallback = no_progress) -> SentenceIndex:
    """Split the chunks into sentences in document order (a sentence repeated word for word, as in
    overlapping chunks, is kept once) and embed them, reusing the vectors `cache` holds."""
    order = sorted(range(len(ids)), key=lambda i: _document_order(metadatas[i]))
    chunks = [IndexedChunk(ids[i], texts[i], str(metadatas[i].get("source", "?")),
                           str(metadatas[i].get("category", "")), str(metadatas[i].get("row", ""))) for i in order]
    chunk_of, spans, seen = [], [], set()
    for c, chunk in enumerate(chunks):
        for a, b in sentence_spans(chunk.text):
            sentence = " ".join(chunk.text[a:b].split())
            if sentence not in seen:
                seen.add(sentence)
                chunk_of.append(c)
                spans.append((a, b))
    index = SentenceIndex(chunks, np.array(chunk_of, dtype=np.int64), np.array(spans, dtype=np.int64),
                          np.zeros((len(chunk_of), embedder.dimension), dtype=np.float32))
    index.vectors[:] = embed_with_cache(embedder, index.texts, cache, progress)
    return index


def embed_with_cache(embedder: Embedder, texts: Sequence[str], cache: EmbeddingCache | None,
                     progress: ProgressCallback = no_progress) -> np.ndarray:
    """The texts' vectors: those `cache` holds read from it, the rest embedded (and kept there)."""
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    hashes = [text_hash(t) for t in texts]
    known = cache.get(embedder.info, hashes) if cache is not None else {}
    missing = [i for i, h in enumerate(hashes) if h not in known]
    for i, h in enumerate(hashes):
        if h in known:
            vectors[i] = known[h]
    for lo in range(0, len(missing), EMBED_BATCH):
        progress(ProgressEvent("embedding sentences", lo, len(missing)))
        part = missing[lo:lo + EMBED_BATCH]
        vectors[part] = embedder.embed([texts[i] for i in part])
        if cache is not None:
            cache.put(embedder.info, [hashes[i] for i in part], vectors[part])
    progress(ProgressEvent("embedding sentences", len(missing), len(missing)))
    return vectors


_MEMORY: dict[str, tuple[str, SentenceIndex]] = {}  # view -> (version, its index): the latest one per view
_MEMORY_LOCK = threading.Lock()


def sentence_index(collection: Collection, embedder: Embedder, store: str,
                   progress: ProgressCallback = no_progress,
                   cache_dir: Path | None = SENTENCE_CACHE_DIR) -> SentenceIndex:
    """The collection's sentence index for its current version: from memory, else from disk (`cache_dir`),
    else built (reading every chunk, embedding the sentences the embedding cache lacks) and kept in both.
    Files of older versions of the same collection are removed when a newer one is written."""
    view = content_hash(store, collection.name, embedder.name)[:16]
    version = collection.version()
    with _MEMORY_LOCK:
        held = _MEMORY.get(view)
    if held is not None and held[0] == version:
        return held[1]
    key = f"{view}-{content_hash(version, SPLITTING)[:16]}"
    index = _read(cache_dir, key) if cache_dir is not None else None
    if index is None:
        index = _built_once(collection, embedder, cache_dir, view, key, progress)
    with _MEMORY_LOCK:
        _MEMORY[view] = (version, index)
    return index


def _built_once(collection: Collection, embedder: Embedder, cache_dir: Path | None, view: str, key: str,
                progress: ProgressCallback) -> SentenceIndex:
    """The index built and written under `key`, by one builder at a time across sessions and processes: a second
    one waits for the first (shown its progress) and reads what it wrote."""
    with one_builder(cache_dir / f"{key}.lock", progress) if cache_dir is not None else nullcontext(progress) as report:
        if cache_dir is not None and (index := _read(cache_dir, key)) is not None:
            return index
        chunks = collection.get()
        report(ProgressEvent("reading chunks", len(chunks.ids), len(chunks.ids)))
        index = build_sentence_index(chunks.ids, chunks.texts, chunks.metadatas, embedder,
                                     EmbeddingCache.default(), report)
        if cache_dir is not None:
            _write(cache_dir, key, index)
            for stale in cache_dir.glob(f"{view}-*"):
                if not stale.name.startswith(key):
                    stale.unlink(missing_ok=True)
        return index


def _write(cache_dir: Path, key: str, index: SentenceIndex) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, chunk_of=index.chunk_of, spans=index.spans, vectors=index.vectors)
    # The chunks file goes last: it is what a reader looks for first.
    if write_cache_file(cache_dir / f"{key}.npz", buffer.getvalue()):
        write_cache_file(cache_dir / f"{key}.json", json.dumps(
            [[c.id, c.text, c.source, c.category, c.row] for c in index.chunks], ensure_ascii=False).encode("utf-8"))


def _read(cache_dir: Path, key: str) -> SentenceIndex | None:
    """The index kept under `key`, or None when it is missing or damaged (then it is built again)."""
    try:
        chunks = [IndexedChunk(*row) for row in json.loads((cache_dir / f"{key}.json").read_text(encoding="utf-8"))]
        with np.load(cache_dir / f"{key}.npz") as arrays:
            chunk_of, spans, vectors = arrays["chunk_of"], arrays["spans"], arrays["vectors"]
        if len(chunk_of) != len(vectors) or (len(chunk_of) and chunk_of.max() >= len(chunks)):
            return None
        return SentenceIndex(chunks, chunk_of, spans, vectors)
    except (OSError, ValueError, KeyError, TypeError):
        return None
