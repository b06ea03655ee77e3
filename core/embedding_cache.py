"""Vectors already computed, keyed by model + the sha256 of the chunk text.

Identity and content are separate: a chunk belongs to a document (its id says
which), but its vector depends only on its text and the model. So identical text
is embedded once however many documents hold it, an edited document re-embeds
only the chunks whose text changed, and a document whose metadata changed (a new
category) is stored again under its new ids without embedding anything.

One SQLite file (WAL, so several processes and Streamlit sessions share it),
float32 vectors as blobs. The cache only saves work: when it cannot be read or
written (a full disk, a damaged file, a read-only folder) the text is embedded
as if it had never been seen, and the ingest goes on.
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Sequence

import numpy as np

from .types import EmbedderInfo

log = logging.getLogger(__name__)

# Keys per statement: far below SQLite's variable limit (32,766 since 3.32, 999 before).
KEYS_PER_QUERY = 500
BUSY_TIMEOUT_SECONDS = 30.0
SCHEMA = ("CREATE TABLE IF NOT EXISTS vectors ("
          " model TEXT NOT NULL, text_hash BLOB NOT NULL, vector BLOB NOT NULL,"
          " PRIMARY KEY (model, text_hash)) WITHOUT ROWID")


def text_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def model_key(embedder: EmbedderInfo) -> str:
    return f"{embedder.name}:{embedder.dimension}"


class EmbeddingCache:
    """model + text hash -> vector, in the SQLite file at `path` (made on first write)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._warned = False

    @classmethod
    def default(cls) -> EmbeddingCache:
        from .config import DATA_DIR
        return cls(DATA_DIR / "cache" / "embeddings.sqlite")

    def _connect(self) -> sqlite3.Connection:
        # A connection per call: cheap next to embedding, and safe from any thread.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(SCHEMA)
        return conn

    def _unusable(self, exc: Exception) -> None:
        if not self._warned:  # once per cache: an ingest of many batches says it once
            log.warning("embedding cache %s unusable, embedding without it: %s", self.path, exc)
            self._warned = True

    def get(self, embedder: EmbedderInfo, hashes: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors among `hashes` (missing ones are simply absent)."""
        found: dict[bytes, np.ndarray] = {}
        if not hashes or not self.path.exists():
            return found
        model = model_key(embedder)
        unique = list(dict.fromkeys(hashes))
        try:
            with closing(self._connect()) as conn:
                for lo in range(0, len(unique), KEYS_PER_QUERY):
                    part = unique[lo:lo + KEYS_PER_QUERY]
                    marks = ",".join("?" * len(part))
                    rows = conn.execute(f"SELECT text_hash, vector FROM vectors WHERE model = ? "
                                        f"AND text_hash IN ({marks})", [model, *part])
                    for key, blob in rows:
                        vector = np.frombuffer(blob, dtype=np.float32)
                        # A zero vector is no vector (an older bow-hash gave some): embedded again.
                        if vector.shape == (embedder.dimension,) and vector.any():
                            found[bytes(key)] = vector
        except (sqlite3.Error, OSError) as exc:
            self._unusable(exc)
            return {}
        return found

    def put(self, embedder: EmbedderInfo, hashes: Sequence[bytes], vectors: np.ndarray) -> None:
        if not hashes:
            return
        model = model_key(embedder)
        rows = [(model, key, np.asarray(vector, dtype=np.float32).tobytes()) for key, vector in zip(hashes, vectors)]
        try:
            with closing(self._connect()) as conn, conn:
                conn.executemany("INSERT OR REPLACE INTO vectors (model, text_hash, vector) VALUES (?, ?, ?)", rows)
        except (sqlite3.Error, OSError) as exc:
            self._unusable(exc)
