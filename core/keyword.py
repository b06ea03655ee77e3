"""BM25 keyword search over one collection's chunks, kept in a folder beside the vectors.

bm25s does the scoring (a sparse matrix of precomputed BM25 weights, so a query
is a sum of a few columns). Text is analysed here, by one function used for both
chunks and queries: lower-cased word tokens, English stopwords dropped, Snowball
(Porter 2) stems, so "studies", "studied" and "study" meet.

The folder holds complete builds in subfolders and a small `current.json`
naming the live one. A rebuild writes a new subfolder, then replaces
`current.json` in one atomic rename, so a crash half way leaves the previous
index in place, never half of a new one; readers in other processes see either
the old build or the new one.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Sequence

import bm25s
import numpy as np
import Stemmer  # PyStemmer: the Snowball stemmers in C
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_EN_PLUS

from .types import Filter, Hit, Metadata

CURRENT = "current.json"
ROWS = "rows.json"
WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class BM25Settings:
    """How text is analysed and scored; a persisted index built otherwise is rebuilt.

    Chosen on the SciFact train split (nDCG@10): stemming is worth +0.027
    (0.694 vs 0.667); the stopword list (Lucene's 33 words, a longer list, none)
    and k1 in {0.9, 1.2, 1.5} x b in {0.4, 0.75, 1.0} all land within 0.007 of
    each other, so these are the usual Lucene/Elasticsearch defaults.
    """

    k1: float = 1.2
    b: float = 0.75
    stopwords: Literal["en", "en_plus", "none"] = "en"
    stem: bool = True


@lru_cache(maxsize=8)
def _stopword_set(name: str) -> frozenset[str]:
    return frozenset({"en": STOPWORDS_EN, "en_plus": STOPWORDS_EN_PLUS, "none": ()}[name])


class Analyzer:
    """Text -> index terms. Each distinct word is stemmed once: a corpus repeats few of them."""

    def __init__(self, settings: BM25Settings):
        self._stopwords = _stopword_set(settings.stopwords)
        self._stemmer = Stemmer.Stemmer("english") if settings.stem else None
        self._terms: dict[str, str] = {}  # word -> term, "" for a stopword

    def _term(self, word: str) -> str:
        term = self._terms.get(word)
        if term is None:
            if word in self._stopwords:
                term = ""
            else:
                term = self._stemmer.stemWord(word) if self._stemmer else word
            self._terms[word] = term
        return term

    def terms(self, text: str) -> list[str]:
        return [t for t in map(self._term, WORD.findall(text.lower())) if t]

    def corpus(self, texts: Sequence[str]) -> tuple[list[list[int]], dict[str, int]]:
        """Every text as term ids, and the vocabulary (term -> id): the form bm25s indexes fastest."""
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(t, len(vocab)) for t in self.terms(text)] for text in texts]
        return ids, vocab


@dataclass
class _Build:
    """One loaded build: the bm25s model and the rows it scores, row-aligned."""

    name: str
    model: bm25s.BM25 | None  # None for an empty collection
    ids: list[str]
    texts: list[str]
    metadatas: list[Metadata]
    categories: np.ndarray  # per row, for filter masks
    sources: np.ndarray

    @classmethod
    def make(cls, name: str, model: bm25s.BM25 | None, ids: list[str], texts: list[str],
             metadatas: list[Metadata]) -> _Build:
        return cls(name, model, ids, texts, metadatas,
                   categories=np.array([str(m.get("category", "")) for m in metadatas], dtype=object),
                   sources=np.array([str(m.get("source", "")) for m in metadatas], dtype=object))

    def allowed(self, where: Filter | None) -> np.ndarray | None:
        """A 0/1 weight per row (bm25s multiplies scores by it), or None for no filter."""
        if where is None or where.is_empty():
            return None
        mask = np.ones(len(self.ids), dtype=bool)
        if where.categories:
            mask &= np.isin(self.categories, list(where.categories))
        if where.sources:
            mask &= np.isin(self.sources, list(where.sources))
        return mask.astype(np.float32)


class BM25Index:
    """A BM25 index persisted in `folder`, rebuilt whole when its collection changes."""

    def __init__(self, folder: Path, settings: BM25Settings = BM25Settings()):
        self.folder = Path(folder)
        self.settings = settings
        self._analyzer = Analyzer(settings)
        self._build: _Build | None = None

    # -- what is on disk -------------------------------------------------------
    def _current(self) -> dict | None:
        try:
            current = json.loads((self.folder / CURRENT).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        # An index analysed or scored differently is as good as none; so is one whose
        # build folder a concurrent rebuild removed before this one pointed at it.
        if current.get("settings") != asdict(self.settings) or not (self.folder / current["build"]).is_dir():
            return None
        return current

    @property
    def fingerprint(self) -> str | None:
        """What the persisted index was built from (the caller's version stamp), or None."""
        current = self._current()
        return current["fingerprint"] if current else None

    # -- writing ---------------------------------------------------------------
    def rebuild(self, ids: list[str], texts: list[str], metadatas: list[Metadata], fingerprint: str) -> None:
        """Index these rows from scratch and make them the live index, atomically."""
        model = None
        if ids:
            model = bm25s.BM25(k1=self.settings.k1, b=self.settings.b, method="lucene", csc_backend="scipy")
            model.index(self._analyzer.corpus(texts), show_progress=False)
        name = f"build-{uuid.uuid4().hex}"
        build_dir = self.folder / name
        build_dir.mkdir(parents=True)
        if model is not None:
            model.save(str(build_dir), show_progress=False)
        with (build_dir / ROWS).open("w", encoding="utf-8") as fh:
            json.dump({"ids": ids, "texts": texts, "metadatas": metadatas}, fh, ensure_ascii=False)
        pointer = self.folder / f".{name}.json"
        pointer.write_text(json.dumps({"build": name, "fingerprint": fingerprint,
                                       "settings": asdict(self.settings)}))
        os.replace(pointer, self.folder / CURRENT)
        self._build = _Build.make(name, model, list(ids), list(texts), list(metadatas))
        self._remove_builds(keep=name)

    def _remove_builds(self, keep: str) -> None:
        for path in self.folder.glob("build-*"):
            if path.name != keep:
                shutil.rmtree(path, ignore_errors=True)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self._build = None

    # -- reading ---------------------------------------------------------------
    def _load(self) -> _Build | None:
        """The live build, read from disk only when another build has replaced it."""
        for _ in range(3):  # another process may swap builds while this one reads
            current = self._current()
            if current is None:
                return None
            if self._build is not None and self._build.name == current["build"]:
                return self._build
            build_dir = self.folder / current["build"]
            try:
                rows = json.loads((build_dir / ROWS).read_text(encoding="utf-8"))
                model = bm25s.BM25.load(str(build_dir), mmap=False) if rows["ids"] else None
            except FileNotFoundError:
                continue
            self._build = _Build.make(current["build"], model, rows["ids"], rows["texts"], rows["metadatas"])
            return self._build
        return None

    def search(self, query: str, k: int, where: Filter | None = None) -> list[Hit]:
        """The k best rows by BM25 among those the filter allows; rows scoring 0 are left out."""
        build = self._load()
        if build is None or build.model is None or k <= 0:
            return []
        vocab = build.model.vocab_dict
        terms = [t for t in self._analyzer.terms(query) if t in vocab]
        if not terms:
            return []
        scores = build.model.get_scores(terms, weight_mask=build.allowed(where))
        return self._top(build, scores, k)

    @staticmethod
    def _top(build: _Build, scores: np.ndarray, k: int) -> list[Hit]:
        k = min(k, int(np.count_nonzero(scores > 0)))
        if k == 0:
            return []
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.lexsort((best, -scores[best]))]  # by score, ties by row for a stable order
        return [Hit(id=build.ids[i], text=build.texts[i], metadata=build.metadatas[i], score=float(scores[i]),
                    rank=rank) for rank, i in enumerate(best, start=1)]
