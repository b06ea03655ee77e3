"""Pick a store by URL: a folder (Chroma embedded), chroma://HOST:PORT (Chroma
server) or postgresql://... (PostgreSQL + pgvector; with ?table=... a table of another
application, read-only: see pg_table.py). The app and CLI take the
same URLs, so moving to a server changes one setting, not a workflow.
Opening a store of ours first settles what a killed repair left (base.settle_interrupted)."""
from __future__ import annotations

from .base import Collection, Store, StoredChunks, settle_interrupted

__all__ = ["Collection", "Store", "StoredChunks", "open_store"]


def open_store(url: str) -> Store:
    if url.startswith(("postgresql://", "postgres://")):
        from .pg_table import PgTableStore, is_table_url

        if is_table_url(url):  # someone else's table, read-only
            return PgTableStore(url)
        from .pgvector import PgVectorStore  # psycopg loads only when asked for

        store: Store = PgVectorStore(url)
    else:
        from .chroma import ChromaStore

        store = ChromaStore(url)
    settle_interrupted(store)  # a repair killed half way: finished or undone before anything else
    return store
