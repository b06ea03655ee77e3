"""One builder for a cache entry at a time, across threads, sessions and processes: a lock file beside the entry.

Two sessions (or an app and the CLI) that miss the same cache entry at once would each build it: minutes of
embedding done twice, on a machine that has no cores to spare. `one_builder` holds an advisory lock (flock)
on a file beside the entry while the block runs; whoever comes second waits, shown the first one's progress
(the holder writes its latest progress event into the lock file), and then finds the entry on disk. The lock
is the kernel's, so it goes with the holder's process however that ends: no stale lock to clear. The small
lock file stays behind (removing it while another process may open it would let two hold "the" lock).
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from .types import ProgressCallback, ProgressEvent, no_progress

try:
    import fcntl
except ImportError:  # Windows: no flock; each builder builds, as before there was a lock
    fcntl = None  # type: ignore[assignment]

WAIT_POLL_S = 0.5  # how often a waiting builder looks again (and passes the holder's progress on)


@contextmanager
def one_builder(lock_path: Path, progress: ProgressCallback = no_progress) -> Iterator[ProgressCallback]:
    """Run the block while no one else runs one for `lock_path`; until then, wait, reporting the holder's progress
    to `progress` ("waiting for another build: ..."). Yields the callback the block reports through: `progress`, and the lock
    file for those waiting. The block should look for the entry again first: the one before may have built it."""
    handle = None
    if fcntl is not None:
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a+", encoding="utf-8")
        except OSError:  # a read-only cache folder: the entry cannot be written either; build as without a lock
            pass
    if handle is None:
        yield progress
        return
    with handle:
        while not _locked(handle):
            progress(_holders_progress(lock_path))
            time.sleep(WAIT_POLL_S)
        try:
            yield _shared(handle, progress)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _locked(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _shared(handle: IO[str], progress: ProgressCallback) -> ProgressCallback:
    def report(event: ProgressEvent) -> None:
        progress(event)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps([event.stage, event.done, event.total, event.detail]))
            handle.flush()
        except OSError:  # a full disk: those waiting see less, the build goes on
            pass

    return report


def _holders_progress(lock_path: Path) -> ProgressEvent:
    """The holder's latest progress as a waiter shows it (its stage alone until it has reported, or if the file is
    caught half written)."""
    try:
        stage, done, total, detail = json.loads(lock_path.read_text(encoding="utf-8"))
        return ProgressEvent(f"waiting for another build: {stage}", int(done), total and int(total), str(detail))
    except (OSError, ValueError, TypeError):
        return ProgressEvent("waiting for another build", 0, 0)
