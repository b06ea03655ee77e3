"""Label fixes and tags kept by this tool, beside the data and never in it.

A store may be someone else's (read-only), and even our own collections should not
change under an analyst who is only proposing a fix, so new labels and tags live in an
overlay: one SQLite file per store + collection under data/labels/ (named by a hash of
the two: a PostgreSQL URL's password never reaches a file name). Every change is a new
version appended to the history, nothing is overwritten; the latest edit of a chunk's
field wins. The label check reads its labels through `apply`, so the next check uses
the new labels; `export_frame` is the list to hand back to whoever owns the data.
"""
from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import pandas as pd

from .config import DATA_DIR
from .errors import ExplorerError
from .types import content_hash

LABELS_DIR = DATA_DIR / "labels"  # EXPLORER_LABELS_DIR moves it (tests keep theirs in a temporary folder)
EXPORT_COLUMNS = ["id", "document", "old label", "new label", "tag"]
SCHEMA = """
CREATE TABLE IF NOT EXISTS edits (
    version INTEGER NOT NULL, id TEXT NOT NULL, document TEXT NOT NULL, field TEXT NOT NULL,
    old_label TEXT, new_label TEXT, tag TEXT, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS edits_by_field ON edits (field, id, version);
"""


@dataclass(frozen=True)
class Target:
    """A chunk to edit: its id, its document and its label in the store (None: it has none)."""

    id: str
    document: str
    old_label: str | None


@dataclass(frozen=True)
class Edit:
    id: str
    document: str
    old_label: str | None
    new_label: str | None  # None: the label is not changed (a tag only)
    tag: str | None
    version: int


class LabelEdits:
    """The overlay of one collection in one store."""

    def __init__(self, store_url: str, collection: str, folder: Path | None = None):
        folder = folder or Path(os.environ.get("EXPLORER_LABELS_DIR") or LABELS_DIR)
        self.path = folder / f"{content_hash(store_url, collection)[:24]}.sqlite"

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30)
            connection.executescript(SCHEMA)
            return connection
        except (OSError, sqlite3.Error) as exc:
            raise ExplorerError(f"the label edits file {self.path} cannot be opened: {exc}") from None

    def version(self) -> int:
        """0 before any edit; every change adds one."""
        if not self.path.exists():
            return 0
        with closing(self._connect()) as db:
            return int(db.execute("SELECT COALESCE(MAX(version), 0) FROM edits").fetchone()[0])

    def _append(self, field: str, targets: Sequence[Target], new_label: str | None, tag: str | None) -> int:
        if not targets:
            raise ExplorerError("nothing selected to edit")
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with closing(self._connect()) as db, db:
            version = int(db.execute("SELECT COALESCE(MAX(version), 0) FROM edits").fetchone()[0]) + 1
            db.executemany("INSERT INTO edits VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [(version, t.id, t.document, field, t.old_label, new_label, tag, at) for t in targets])
        return version

    def set_label(self, field: str, targets: Sequence[Target], label: str) -> int:
        """Give these chunks a new label in `field`; returns the new version."""
        label = label.strip()
        if not label:
            raise ExplorerError("the new label is empty")
        return self._append(field, targets, label, None)

    def set_tag(self, field: str, targets: Sequence[Target], tag: str) -> int:
        """Tag these chunks (e.g. 'ambiguous', 'checked'); an empty tag clears it. Returns the new version."""
        return self._append(field, targets, None, tag.strip())

    def current(self, field: str) -> dict[str, Edit]:
        """Per chunk id: its latest label (over every version), its latest tag in `field`, and its label in
        the store when first edited."""
        if not self.path.exists():
            return {}
        with closing(self._connect()) as db:
            rows = db.execute("SELECT id, document, old_label, new_label, tag, version FROM edits WHERE field = ? "
                              "ORDER BY version", (field,)).fetchall()
        latest: dict[str, Edit] = {}
        for chunk_id, document, old, new, tag, version in rows:
            before = latest.get(chunk_id)
            latest[chunk_id] = Edit(chunk_id, document, before.old_label if before else old,
                                    new if new is not None else (before.new_label if before else None),
                                    tag if tag is not None else (before.tag if before else None), version)
        return latest

    def apply(self, field: str, ids: Sequence[str], values: Sequence[str | None]) -> list[str | None]:
        """The label values with this overlay's new labels in place of the store's."""
        edits = self.current(field)
        return [edits[i].new_label if i in edits and edits[i].new_label is not None else v
                for i, v in zip(ids, values)]

    def export_frame(self, field: str) -> pd.DataFrame:
        """One row per edited chunk: id, document, old label, new label, tag."""
        rows = [(e.id, e.document, e.old_label or "", e.new_label or "", e.tag or "")
                for e in sorted(self.current(field).values(), key=lambda e: (e.document, e.id))]
        return pd.DataFrame(rows, columns=EXPORT_COLUMNS)


def write_export(frame: pd.DataFrame, path: Path) -> None:
    """CSV, or Parquet for a .parquet name."""
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
