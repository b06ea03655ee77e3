"""Pick a store by URL: a folder (Chroma embedded), chroma://HOST:PORT (Chroma
server) or postgresql://... (PostgreSQL + pgvector). The app and CLI take the
same URLs, so moving to a server changes one setting, not a workflow."""
from __future__ import annotations

from .base import Collection, Store, StoredChunks

__all__ = ["Collection", "Store", "StoredChunks", "open_store"]


def open_store(url: str) -> Store:
    if url.startswith(("postgresql://", "postgres://")):
        from .pgvector import PgVectorStore  # psycopg loads only when asked for

        return PgVectorStore(url)
    from .chroma import ChromaStore

    return ChromaStore(url)
