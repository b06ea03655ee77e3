"""BM25 keyword search over one collection's chunks: an SQLite term index kept beside the vectors.

Text is analysed here, by one function used for both chunks and queries:
lower-cased word tokens, English stopwords dropped, Snowball (Porter 2) stems,
so "studies", "studied" and "study" meet.

The index is a file of term statistics, updated in place by every write, never
rebuilt to add one document:
- `chunks`: one row per chunk (its id, length in terms, category and source for
  filters, and its distinct terms, so a delete knows which postings to edit);
- `postings`: per term, one blob of (row, term frequency, chunk length) triples, so a
  query reads the few blobs of its own terms and scores them without any other row;
- `meta`: the settings, the chunk count and total length, and the `stamp`: the
  version of the collection the index matches. A caller compares it with the
  collection's version and rebuilds when they differ (another writer, a crash).

Scores are bm25s's "lucene" BM25 exactly: idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
term part = tf / (tf + k1 * (1 - b + b * len / avg_len)), summed over the query's
terms (a repeated query term counts each time).

Writes run in one SQLite transaction (`BEGIN IMMEDIATE`), which is also what
serialises writers, in this process and in others; readers never wait for them
(write-ahead log). One `KeywordIndex` per file is shared by every thread of the
process (`keyword_index`), with the postings it has read cached until the stamp changes.
"""
from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
import time
from collections import Counter, OrderedDict
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator, Literal, Sequence

import numpy as np
import Stemmer  # PyStemmer: the Snowball stemmers in C
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_EN_PLUS

from .errors import KeywordIndexDamaged
from .types import Filter, Metadata, ProgressCallback, ProgressEvent, no_progress

WORD = re.compile(r"\w+")
TERM_SEPARATOR = " "  # terms are \w+ runs, so a space never occurs inside one
CACHED_TERMS = 50_000  # postings kept decoded in memory per index (most-recently used)
# Texts whose analysis an Analyzer remembers: a chunk repeated (a boilerplate paragraph, a file stored
# under several names, the synthetic million-point collection) is tokenised and stemmed once.
COUNTED_TEXTS = 20_000


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
        self.counted = lru_cache(maxsize=COUNTED_TEXTS)(self._counted)

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

    def _counted(self, text: str) -> tuple[tuple[str, ...], tuple[int, ...], int]:
        """A text's distinct terms (in order of first use), the frequency of each, and its length in terms;
        use `counted`, which remembers the latest texts."""
        counts = Counter(self.terms(text))
        return tuple(counts), tuple(counts.values()), sum(counts.values())

    def corpus(self, texts: Sequence[str]) -> tuple[list[list[int]], dict[str, int]]:
        """Every text as term ids, and the vocabulary (term -> id): the form bm25s indexes fastest."""
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(t, len(vocab)) for t in self.terms(text)] for text in texts]
        return ids, vocab


@dataclass(frozen=True)
class KeywordHit:
    id: str
    score: float
    rank: int
    text: str | None = None          # the chunk as indexed (None in an index built before texts were kept)
    metadata: Metadata | None = None


@dataclass(frozen=True)
class IndexStats:
    stamp: str | None
    chunks: int
    total_length: int
    generation: str = ""  # changed by every committed write, even one that keeps the stamp (a repair)


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, length INTEGER NOT NULL,
    category TEXT NOT NULL, source TEXT NOT NULL, terms TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_category ON chunks (category);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks (source);
CREATE TABLE IF NOT EXISTS postings (term TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS documents (row INTEGER PRIMARY KEY, text TEXT NOT NULL, metadata TEXT NOT NULL);
"""


def _pack(rows: np.ndarray, tfs: np.ndarray, lengths: np.ndarray) -> bytes:
    return np.concatenate([rows, tfs, lengths]).astype("<i4").tobytes()


def _unpack(blob: bytes) -> np.ndarray:
    """A posting list as a (3, n) int32 array: rows, term frequencies, chunk lengths."""
    return np.frombuffer(blob, dtype="<i4").reshape(3, -1)


class KeywordWriter:
    """The index inside one write transaction (see `KeywordIndex.writing`)."""

    def __init__(self, index: KeywordIndex, db: sqlite3.Connection):
        self._index = index
        self._db = db

    @property
    def stamp(self) -> str | None:
        return self._index._stats(self._db).stamp

    def set_stamp(self, stamp: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('stamp', ?)", (stamp,))

    def clear(self) -> None:
        self._db.execute("DELETE FROM chunks")
        self._db.execute("DELETE FROM postings")
        self._db.execute("DELETE FROM documents")
        self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             [("chunks", "0"), ("total_length", "0"), ("stamp", "")])

    def remove(self, ids: Sequence[str]) -> None:
        self._apply(removed=ids, added=())

    def add(self, ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[Metadata]) -> None:
        """Index these chunks, replacing any already indexed under the same ids."""
        self._apply(removed=ids, added=list(zip(ids, texts, metadatas)))

    def _apply(self, removed: Sequence[str], added: Sequence[tuple[str, str, Metadata]]) -> None:
        db = self._db
        stats = self._index._stats(db)
        chunks, total_length = stats.chunks, stats.total_length
        # term -> rows leaving it; term -> (row, tf, length) joining it
        leaving: dict[str, list[int]] = {}
        for lo in range(0, len(removed), 500):
            part = list(removed[lo:lo + 500])
            found = db.execute(f"SELECT row, length, terms FROM chunks WHERE id IN ({','.join('?' * len(part))})",
                               part).fetchall()
            for row, length, terms in found:
                chunks -= 1
                total_length -= length
                for term in terms.split(TERM_SEPARATOR) if terms else ():
                    leaving.setdefault(term, []).append(row)
            db.executemany("DELETE FROM chunks WHERE row = ?", [(row,) for row, _, _ in found])
            db.executemany("DELETE FROM documents WHERE row = ?", [(row,) for row, _, _ in found])
        joining: dict[str, list[tuple[int, int, int]]] = {}
        if added:
            next_row = int(db.execute("SELECT coalesce(max(row), -1) + 1 FROM chunks").fetchone()[0])
            new_rows = [self._analysed(row, chunk_id, text, metadata, joining)
                        for row, (chunk_id, text, metadata) in enumerate(added, start=next_row)]
            chunks += len(new_rows)
            total_length += sum(r[2] for r in new_rows)
            db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)", new_rows)
            _keep_documents(db, next_row, added)
        self._edit_postings(leaving, joining)
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                       [("chunks", str(chunks)), ("total_length", str(total_length))])

    def _analysed(self, row: int, chunk_id: str, text: str, metadata: Metadata,
                  postings: dict[str, list[tuple[int, int, int]]]) -> tuple[int, str, int, str, str, str]:
        """A chunk's row for the `chunks` table; its (row, tf, length) appended to `postings` per term."""
        terms, tfs, length = self._index.analyzer.counted(text)
        for term, tf in zip(terms, tfs):
            postings.setdefault(term, []).append((row, tf, length))
        return _chunk_row(row, chunk_id, terms, length, metadata)

    def _edit_postings(self, leaving: dict[str, list[int]], joining: dict[str, list[tuple[int, int, int]]]) -> None:
        db = self._db
        touched = sorted(set(leaving) | set(joining))
        for lo in range(0, len(touched), 500):
            part = touched[lo:lo + 500]
            current = dict(db.execute(f"SELECT term, data FROM postings WHERE term IN ({','.join('?' * len(part))})",
                                      part).fetchall())
            updates, deletes = [], []
            for term in part:
                postings = _unpack(current[term]) if term in current else np.zeros((3, 0), np.int32)
                if term in leaving:
                    postings = postings[:, ~np.isin(postings[0], leaving[term])]
                if term in joining:
                    postings = np.concatenate([postings, np.asarray(joining[term], dtype=np.int32).T], axis=1)
                if postings.shape[1]:
                    updates.append((term, _pack(*postings)))
                else:
                    deletes.append((term,))
            db.executemany("INSERT OR REPLACE INTO postings VALUES (?, ?)", updates)
            db.executemany("DELETE FROM postings WHERE term = ?", deletes)

    def rebuild(self, rows: Iterable[tuple[Sequence[str], Sequence[str], Sequence[Metadata]]], stamp: str,
                total: int | None = None, progress: ProgressCallback = no_progress) -> None:
        """Replace the whole index by these rows (pages of ids, texts, metadatas), stamped `stamp`.

        Postings gather as int32 arrays of (term id, row, tf, length), one per page, sorted by term once at
        the end: a million chunks hold some fifty million postings, too many for Python tuples."""
        db = self._db
        self.clear()
        analyzer = self._index.analyzer
        vocabulary: dict[str, int] = {}
        # A text's terms as term ids and frequencies, looked up once per distinct text (of the latest ones)
        numbered: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
        pages: list[np.ndarray] = []
        chunks = total_length = 0
        for ids, texts, metadatas in rows:
            new_rows, parts = [], []
            for row, (chunk_id, text, metadata) in enumerate(zip(ids, texts, metadatas), start=chunks):
                terms, tfs, length = analyzer.counted(text)
                part = numbered.get(terms)
                if part is None:
                    part = numbered[terms] = (
                        np.fromiter((vocabulary.setdefault(t, len(vocabulary)) for t in terms), np.int32, len(terms)),
                        np.asarray(tfs, dtype=np.int32))
                parts.append(part)
                new_rows.append(_chunk_row(row, chunk_id, terms, length, metadata))
            if len(numbered) > COUNTED_TEXTS:
                numbered.clear()
            sizes = [len(part[0]) for part in parts]
            page = np.empty((sum(sizes), 4), dtype=np.int32)
            if parts:
                page[:, 0] = np.concatenate([part[0] for part in parts])
                page[:, 1] = np.repeat(np.arange(chunks, chunks + len(parts), dtype=np.int32), sizes)
                page[:, 2] = np.concatenate([part[1] for part in parts])
                page[:, 3] = np.repeat(np.asarray([r[2] for r in new_rows], dtype=np.int32), sizes)
            pages.append(page)
            _keep_documents(db, chunks, list(zip(ids, texts, metadatas)))
            chunks += len(new_rows)
            total_length += sum(r[2] for r in new_rows)
            db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)", new_rows)
            progress(ProgressEvent("keyword index", chunks, total))
        postings = np.concatenate(pages) if pages else np.zeros((0, 4), np.int32)
        del pages
        postings = postings[np.argsort(postings[:, 0], kind="stable")]  # stable: rows stay ascending per term
        starts = np.flatnonzero(np.diff(postings[:, 0], prepend=-1))
        ends = np.append(starts[1:], len(postings))
        terms_by_id = list(vocabulary)
        db.executemany("INSERT INTO postings VALUES (?, ?)",
                       ((terms_by_id[postings[lo, 0]], _pack(*postings[lo:hi, 1:].T))
                        for lo, hi in zip(starts, ends)))
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                       [("chunks", str(chunks)), ("total_length", str(total_length)), ("stamp", stamp)])


def _chunk_row(row: int, chunk_id: str, terms: Sequence[str], length: int,
               metadata: Metadata) -> tuple[int, str, int, str, str, str]:
    """A chunk's row of the `chunks` table."""
    return (row, chunk_id, length, str(metadata.get("category", "")), str(metadata.get("source", "")),
            TERM_SEPARATOR.join(terms))


def _keep_documents(db: sqlite3.Connection, first_row: int, added: Sequence[tuple[str, str, Metadata]]) -> None:
    """Each chunk's text and metadata beside its postings: a keyword search answers from this file alone,
    without waking the vector store (whose first read in a process loads its whole vector index)."""
    db.executemany("INSERT OR REPLACE INTO documents VALUES (?, ?, ?)",
                   [(row, text, json.dumps(metadata, ensure_ascii=False))
                    for row, (_, text, metadata) in enumerate(added, start=first_row)])


class KeywordIndex:
    """The BM25 index in one SQLite file; get the process's shared instance from `keyword_index`."""

    def __init__(self, path: Path, settings: BM25Settings = BM25Settings()):
        self.path = Path(path)
        self.settings = settings
        self.analyzer = Analyzer(settings)
        self._local = threading.local()  # one connection per thread: sqlite3 connections are not shared
        self._cache_lock = threading.Lock()
        self._cache_stamp: str | None = None
        self._postings: OrderedDict[str, np.ndarray | None] = OrderedDict()  # term -> postings (None: absent)
        self._allowed: OrderedDict[tuple, np.ndarray] = OrderedDict()  # filter -> rows it allows

    # -- connections -------------------------------------------------------------
    @contextmanager
    def _readable(self) -> Iterator[None]:
        """SQLite's words for a broken file (garbage bytes, a torn page) as a KeywordIndexDamaged that
        names this index, so nobody blames the vectors. Busy or full-disk errors pass as they are."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            # A write runs Chroma's own SQLite calls inside this block too: only this file's damage is ours.
            if (isinstance(exc, sqlite3.OperationalError) and "malformed" not in str(exc)) or not self._damaged():
                raise
            raise KeywordIndexDamaged(
                f"the keyword index {self.path} is damaged ({exc}); `python -m core repair` sets it aside and "
                "rebuilds it from the stored text") from exc

    def _damaged(self) -> bool:
        try:
            probe = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                return probe.execute("PRAGMA quick_check(1)").fetchone()[0] != "ok"
            finally:
                probe.close()
        except sqlite3.OperationalError as exc:  # busy, locked: not damage
            return "malformed" in str(exc)
        except sqlite3.DatabaseError:  # "file is not a database"
            return True

    def set_aside(self) -> Path | None:
        """Move a damaged index file out of the way (kept, renamed `.damaged-TIME`), so a fresh one can be
        built; returns where it went. This thread's connection is closed; the process forgets the file."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
        with self._cache_lock:
            self._reset_cache(None)
        if not self.path.exists():
            return None
        aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        self.path.rename(aside)
        for suffix in ("-wal", "-shm"):  # they belong to the damaged file, not to the next one
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
        return aside

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        db = getattr(self._local, "db", None)
        if db is not None:
            return db
        if not self.path.is_file():
            if not create:
                return None
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._readable():
            db = self._open_file()
        self._local.db = db
        return db

    def _open_file(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=60, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")    # readers do not wait for a writer
        db.execute("PRAGMA synchronous = NORMAL")  # a crash may lose the last write: the stamp then says so
        db.executescript(SCHEMA)
        settings = json.dumps(asdict(self.settings), sort_keys=True)
        stored = db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()
        if stored is None or stored[0] != settings:  # analysed or scored otherwise: as good as no index
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM chunks")
            db.execute("DELETE FROM postings")
            db.execute("DELETE FROM documents")
            db.execute("DELETE FROM meta")
            db.execute("INSERT INTO meta VALUES ('settings', ?)", (settings,))
            db.execute("COMMIT")
        return db

    def _stats(self, db: sqlite3.Connection) -> IndexStats:
        meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN "
                               "('stamp', 'chunks', 'total_length', 'generation')"))
        return IndexStats(stamp=meta.get("stamp") or None, chunks=int(meta.get("chunks", 0)),
                          total_length=int(meta.get("total_length", 0)), generation=meta.get("generation", ""))

    @property
    def stamp(self) -> str | None:
        """The collection version the index matches, or None when there is no index yet."""
        with self._readable():
            db = self._connect(create=False)
            return self._stats(db).stamp if db is not None else None

    # -- writing -----------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[KeywordWriter]:
        """One write transaction: committed when the block ends, rolled back if it raises.
        Only one writer at a time, across threads and processes; readers go on meanwhile."""
        db = self._connect(create=True)
        if getattr(self._local, "writing", False):
            raise RuntimeError("a keyword index write transaction is already open in this thread")
        with self._readable():
            db.execute("BEGIN IMMEDIATE")
        self._local.writing = True
        try:
            with self._readable():
                yield KeywordWriter(self, db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            # Cached postings follow (stamp, generation): a rebuild that keeps the stamp still moves them on.
            db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', lower(hex(randomblob(8))))")
            db.execute("COMMIT")
        finally:
            self._local.writing = False

    # -- reading -----------------------------------------------------------------
    def _reset_cache(self, stamp: str | None) -> None:
        self._cache_stamp = stamp
        self._postings.clear()
        self._allowed.clear()

    def _cached(self, cache: OrderedDict, key, stamp: str | None, load, limit: int):
        """`load()` through a cache that holds values of the index at `stamp` only."""
        with self._cache_lock:
            if stamp != self._cache_stamp:
                self._reset_cache(stamp)
            elif key in cache:
                cache.move_to_end(key)
                return cache[key]
        value = load()
        with self._cache_lock:
            if stamp == self._cache_stamp:  # not if another thread moved the cache on meanwhile
                cache[key] = value
                while len(cache) > limit:
                    cache.popitem(last=False)
        return value

    def _allowed_rows(self, db: sqlite3.Connection, where: Filter) -> np.ndarray:
        clauses, params = [], []
        for column, values in (("category", where.categories), ("source", where.sources)):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        rows = db.execute(f"SELECT row FROM chunks WHERE {' AND '.join(clauses)}", params).fetchall()
        return np.fromiter((r for (r,) in rows), dtype=np.int64, count=len(rows))

    def search(self, query: str, k: int, where: Filter | None = None) -> list[KeywordHit]:
        """The k best chunks by BM25 among those the filter allows; chunks scoring 0 are left out."""
        if k <= 0:
            return []
        query_terms = Counter(self.analyzer.terms(query))
        db = self._connect(create=False)
        if db is None or not query_terms:
            return []
        with self._readable():
            return self._search(db, query_terms, k, where)

    def _search(self, db: sqlite3.Connection, query_terms: Counter[str], k: int,
                where: Filter | None) -> list[KeywordHit]:
        db.execute("BEGIN")  # one snapshot: statistics, postings and ids from the same state
        try:
            stats = self._stats(db)
            if stats.chunks == 0:
                return []
            state = f"{stats.stamp}/{stats.generation}"
            found = [(self._cached(self._postings, term, state,
                                   lambda term=term: self._read_postings(db, term), CACHED_TERMS), weight)
                     for term, weight in query_terms.items()]
            found = [(p, w) for p, w in found if p is not None]
            if not found:
                return []
            rows, scores = self._score(found, stats)
            if where is not None and not where.is_empty():
                key = (tuple(sorted(where.categories or ())), tuple(sorted(where.sources or ())))
                allowed = self._cached(self._allowed, key, state, lambda: self._allowed_rows(db, where), 64)
                keep = np.isin(rows, allowed)
                rows, scores = rows[keep], scores[keep]
            k = min(k, len(rows))
            if k == 0:
                return []
            best = np.argpartition(-scores, k - 1)[:k]
            best = best[np.lexsort((rows[best], -scores[best]))]  # by score, ties by row (insertion order)
            chosen = [int(r) for r in rows[best]]
            found_rows = {row: (chunk_id, text, metadata) for row, chunk_id, text, metadata in db.execute(
                "SELECT c.row, c.id, d.text, d.metadata FROM chunks c LEFT JOIN documents d ON d.row = c.row "
                f"WHERE c.row IN ({','.join('?' * len(chosen))})", chosen)}
        finally:
            db.execute("COMMIT")
        return [KeywordHit(id=found_rows[row][0], score=float(scores[i]), rank=rank, text=found_rows[row][1],
                           metadata=None if found_rows[row][2] is None else json.loads(found_rows[row][2]))
                for rank, (row, i) in enumerate(zip(chosen, best), start=1)]

    @staticmethod
    def _read_postings(db: sqlite3.Connection, term: str) -> np.ndarray | None:
        row = db.execute("SELECT data FROM postings WHERE term = ?", (term,)).fetchone()
        return _unpack(row[0]) if row else None

    def _score(self, found: list[tuple[np.ndarray, int]], stats: IndexStats) -> tuple[np.ndarray, np.ndarray]:
        """Rows with a positive score and their scores: bm25s's lucene BM25 (see the module docstring)."""
        avg_length = stats.total_length / stats.chunks
        all_rows, all_scores = [], []
        for postings, weight in found:
            rows, tfs, lengths = postings
            all_rows.append(rows)
            all_scores.append(weight * bm25_term_scores(tfs, lengths, stats.chunks, avg_length, self.settings))
        rows = np.concatenate(all_rows)
        if len(found) == 1:
            scores = all_scores[0]
        else:
            rows, inverse = np.unique(rows, return_inverse=True)
            scores = np.bincount(inverse, weights=np.concatenate(all_scores), minlength=len(rows))
        positive = scores > 0
        return rows[positive], scores[positive]

    # -- what check() compares ---------------------------------------------------
    def indexed_ids(self) -> list[str]:
        with self._readable():
            db = self._connect(create=False)
            return [] if db is None else [i for (i,) in db.execute("SELECT id FROM chunks")]

    def stats(self) -> IndexStats:
        with self._readable():
            db = self._connect(create=False)
            return self._stats(db) if db is not None else IndexStats(None, 0, 0)


def bm25_idf(holding: int, documents: int) -> float:
    """A term's idf when `holding` of `documents` hold it (Lucene's, as bm25s)."""
    return math.log(1 + (documents - holding + 0.5) / (holding + 0.5))


def bm25_term_scores(tfs: np.ndarray, lengths: np.ndarray, documents: int, avg_length: float,
                     settings: BM25Settings) -> np.ndarray:
    """One term's BM25 in the documents that hold it (its posting list: term frequencies and document
    lengths), among `documents` of mean length `avg_length`: the one definition every index here scores by."""
    idf = bm25_idf(len(tfs), documents)
    tfs = np.asarray(tfs, dtype=np.float64)
    return idf * tfs / (tfs + settings.k1 * (1 - settings.b + settings.b * np.asarray(lengths) / avg_length))


class MemoryBM25:
    """BM25 over a few thousand short texts held in memory (the sentences an extractive answer picks
    from), scored as `KeywordIndex` scores chunks; `scores` gives every text's score, 0 where no term is held."""

    def __init__(self, texts: Sequence[str], settings: BM25Settings = BM25Settings()):
        self.settings = settings
        self.analyzer = Analyzer(settings)
        self.size = len(texts)
        rows: dict[str, list[int]] = {}
        tfs: dict[str, list[int]] = {}
        lengths = np.zeros(len(texts), dtype=np.int32)
        for row, text in enumerate(texts):
            terms = Counter(self.analyzer.terms(text))
            lengths[row] = sum(terms.values())
            for term, tf in terms.items():
                rows.setdefault(term, []).append(row)
                tfs.setdefault(term, []).append(tf)
        self._postings = {t: (np.array(r, dtype=np.int32), np.array(tfs[t], dtype=np.int32)) for t, r in rows.items()}
        self._lengths = lengths
        self._avg_length = max(float(lengths.mean()) if len(lengths) else 0.0, 1e-9)

    def scores(self, query: str) -> np.ndarray:
        out = np.zeros(self.size)
        for term, weight in Counter(self.analyzer.terms(query)).items():
            if term in self._postings:
                rows, tfs = self._postings[term]
                out[rows] += weight * bm25_term_scores(tfs, self._lengths[rows], self.size, self._avg_length,
                                                       self.settings)
        return out

    def idf(self, term: str) -> float:
        """An (analysed) term's idf among the texts."""
        return bm25_idf(len(self._postings[term][0]) if term in self._postings else 0, self.size)


_OPEN: dict[tuple[Path, BM25Settings], KeywordIndex] = {}
_OPEN_LOCK = threading.Lock()


def keyword_index(path: Path, settings: BM25Settings = BM25Settings()) -> KeywordIndex:
    """The process's one instance for this file: every session and thread shares its cache."""
    key = (Path(path).resolve(), settings)
    with _OPEN_LOCK:
        index = _OPEN.get(key)
        if index is None:
            index = _OPEN[key] = KeywordIndex(key[0], settings)
        return index


def remove_keyword_index(path: Path) -> None:
    """Delete an index file nobody else uses (a repair's spare): this process's connection closed,
    its instance forgotten, the file and its journal removed."""
    key = Path(path).resolve()
    with _OPEN_LOCK:
        index = _OPEN.pop(key, None)
    db = getattr(index._local, "db", None) if index is not None else None
    if db is not None:
        db.close()
    for suffix in ("", "-wal", "-shm"):
        key.with_name(key.name + suffix).unlink(missing_ok=True)
