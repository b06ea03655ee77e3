"""Errors a user can act on. The CLI prints their message and exits non-zero; the
app shows it in an error box. Anything else escaping `core` is a bug."""
from __future__ import annotations


class ExplorerError(Exception):
    """Base class: the message is written for the person using the tool."""


class LoaderError(ExplorerError):
    """A file could not be read; names the file and the reason."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class EmbedderMismatch(ExplorerError):
    """A collection was made with a different embedding model than the one asked for."""


class EmbedderUnavailable(ExplorerError):
    """A provider cannot be used here (no API key, no network, server refused)."""


class StoreUnavailable(ExplorerError):
    """A store server (PostgreSQL, Chroma server) cannot be reached."""


class CollectionNotFound(ExplorerError):
    """The named collection does not exist in the store."""


class ProviderError(ExplorerError):
    """An LLM provider failed after retries (bad key, rate limit, timeout)."""


class ConfigError(ExplorerError):
    """The app's configuration (.streamlit/secrets.toml, EXPLORER_* variables) is wrong; says where."""


class NotAllowed(ExplorerError):
    """The shared app's configuration does not allow this action (e.g. writing to a read-only collection)."""


class StoreIncompatible(ExplorerError):
    """A store this tool must not open as it is (made by another chromadb version, not a store at all)."""


class StoreFull(ExplorerError):
    """The disk holding a store has no room for a write; nothing was written."""


class StoreDamaged(ExplorerError):
    """A store's files are broken (a full disk, a crash); the message points at `python -m core repair`."""


class ReadOnlyCollection(ExplorerError):
    """A collection another program made: read and searched here, never changed."""
class CollectionDamaged(ExplorerError):
    """A collection's files cannot be read as they are; `python -m core repair` rebuilds them."""


def describe(exc: BaseException) -> str:
    """An unexpected error from a store or library as one short line (no traceback, no multi-line SQL),
    for messages that must say what failed without pretending to know more."""
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line[:200]}" if first_line else type(exc).__name__


class KeywordIndexDamaged(CollectionDamaged):
    """A collection's keyword index file cannot be read; `python -m core repair` sets it aside and rebuilds it."""
