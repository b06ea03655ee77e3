"""Scratch folders the app fills on the server's disk (sweep collections, a second model's vectors), kept
within a size: whatever was used longest ago goes first. On a shared app each browser session sweeps into a
folder of its own, so one visitor's corpus never serves another's, and the folders of sessions long gone are
what the bound removes."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _last_used(path: Path) -> float:
    own = path.stat().st_mtime
    return own if path.is_file() else max([own, *(f.stat().st_mtime for f in path.rglob("*"))])


def prune(folder: Path, max_bytes: int | None, keep: Path | None = None) -> list[Path]:
    """Remove the entries of `folder` (files or sub-folders) used longest ago until it holds at most
    `max_bytes`; `keep` (the entry in use now) stays whatever its size. Returns what was removed."""
    if max_bytes is None or not folder.is_dir():
        return []
    entries = sorted(folder.iterdir(), key=_last_used)
    sizes = {entry: folder_bytes(entry) for entry in entries}
    total = sum(sizes.values())
    removed = []
    for entry in entries:
        if total <= max_bytes:
            break
        if keep is not None and entry.resolve() == keep.resolve():
            continue
        shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        total -= sizes[entry]
        removed.append(entry)
    return removed


def touch(path: Path) -> None:
    """Mark `path` as used now (pruning removes what was used longest ago)."""
    path.mkdir(parents=True, exist_ok=True)
    os.utime(path)


def session_folder(root: Path, session_id: str) -> Path:
    """The scratch folder of one browser session under `root` (named by a hash: ids never reach the disk)."""
    return root / "sessions" / hashlib.sha256(session_id.encode()).hexdigest()[:16]
