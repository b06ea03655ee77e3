"""`python -m core ingest PATH...`: load, chunk, embed and store files, with a progress bar."""
from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from typing import Iterator

from tqdm import tqdm

from ..chunking import validate
from ..pipeline import LoadOptions, ingest, local_files
from ..types import ChunkSettings, ProgressCallback, ProgressEvent
from ..workspace import Workspace, open_workspace
from .common import add_chunking_options, add_collection_options, chunk_settings, store_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="add files to a collection",
                       description="Load, chunk, embed and store files. A file is known by its resolved "
                                   "absolute path: the same file reached through a folder, a subfolder, a "
                                   "symlink or alone is one document; a CSV/JSONL row is its file plus its row id. "
                                   "Re-ingesting a file adds nothing; a changed file replaces its own old chunks, "
                                   "re-embedding only the changed ones; a new --category re-embeds nothing.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (searched for supported files)")
    add_collection_options(p)
    add_chunking_options(p)
    p.add_argument("--category", help="category label for every document in these files")
    p.add_argument("--text-field", help="CSV/JSONL: column(s) holding the text, comma-separated (e.g. title,text)")
    p.add_argument("--category-field", help="CSV/JSONL: column holding each row's category")
    p.add_argument("--metadata-field", action="append", default=[], metavar="F",
                   help="CSV/JSONL: extra column to keep as metadata (repeatable)")
    p.add_argument("--id-field", help="CSV/JSONL: column holding each row's id (default: _id or id, "
                                      "else the row number); a re-ingest replaces rows by it")
    p.add_argument("--prune", action="store_true",
                   help="remove documents of files no longer in a folder given (deleted or renamed); "
                        "without it they are only reported")
    p.set_defaults(run=run)


# Seconds between progress lines when stderr is not a terminal (a log file, CI, a pipe). Work that ends
# sooner prints none, so a quick command's stderr stays its one `error:` line (docs/reliability.md).
PROGRESS_LINE_EVERY = float(os.environ.get("EXPLORER_PROGRESS_SECONDS", "5"))


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class ProgressLines:
    """Progress as a line on stderr every PROGRESS_LINE_EVERY seconds from the start: stage, done/total,
    rate and time left (the rate is measured from the stage's first event); a bar's redraws would be
    noise in a log."""

    def __init__(self, label: str, every: float = PROGRESS_LINE_EVERY, clock=time.monotonic):
        self.label, self.every, self.clock = label, every, clock
        self.stage, self.stage_start, self.first_done, self.last_line = "", 0.0, 0, clock()
        self.last: ProgressEvent | None = None
        self.printed, self.lines = False, 0

    def __call__(self, event: ProgressEvent) -> None:
        now = self.clock()
        if event.stage != self.stage:
            self.stage, self.stage_start, self.first_done = event.stage, now, event.done
        self.last, self.printed = event, False
        if now - self.last_line >= self.every:
            self.last_line, self.printed, self.lines = now, True, self.lines + 1
            print(self.line(event, now), file=sys.stderr, flush=True)

    def line(self, event: ProgressEvent, now: float) -> str:
        parts = [f"{self.label}: {event.stage}", f"{event.done:,}/{event.total:,}" if event.total else f"{event.done:,}"]
        elapsed, done = now - self.stage_start, event.done - self.first_done
        if elapsed > 0 and done > 0:
            rate = done / elapsed
            parts.append(f"{rate:,.1f}/s")
            if event.total:
                parts.append(f"about {_duration(max(event.total - event.done, 0) / rate)} left")
        return " ".join(parts) + (f" ({event.detail})" if event.detail else "")

    def finish(self) -> None:
        """How work that printed progress ended (its last event), unless that line is already out."""
        if self.lines and self.last is not None and not self.printed:
            print(self.line(self.last, self.clock()), file=sys.stderr, flush=True)


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressCallback]:
    """A tqdm bar on stderr fed by core progress events; when stderr is not a terminal, a line every
    few seconds instead (`ProgressLines`)."""
    if not sys.stderr.isatty():
        lines = ProgressLines(label)
        yield lines
        lines.finish()
        return
    with tqdm(total=1, unit="B", unit_scale=True, desc=label, disable=None, file=sys.stderr) as bar:
        def show(event: ProgressEvent) -> None:
            if event.total:
                bar.total = event.total
                bar.n = min(event.done, event.total)
            bar.set_postfix_str(f"{event.stage} {event.detail}"[:60])
            bar.refresh()

        yield show


def run(args: argparse.Namespace) -> int:
    settings: ChunkSettings = chunk_settings(args)
    validate(settings)
    files = local_files(args.paths)  # before the collection is made: an empty folder makes nothing
    workspace = open_workspace(store_url(args), args.collection, args.embedder, create=True)
    options = LoadOptions(text_field=args.text_field, category_field=args.category_field,
                          metadata_fields=tuple(args.metadata_field), category=args.category, id_field=args.id_field)
    try:
        with progress_bar("ingest") as show:
            report = ingest(files, workspace.collection, workspace.embedder, settings, options, progress=show,
                            prune=args.prune)
    except BaseException:  # an error or Ctrl-C: clean up, then let it be reported as usual
        _drop_if_still_empty(workspace)
        raise
    for failure in report.failures:
        print(f"error: {failure} (skipped)", file=sys.stderr)
    name = workspace.collection.name
    if _drop_if_still_empty(workspace):
        print(f"{report.summary()}; nothing stored, so collection '{name}' was not created")
    else:
        print(f"{report.summary()}; collection '{name}' now holds {workspace.collection.count()} chunks")
    return 1 if report.failures else 0


def _drop_if_still_empty(workspace: Workspace) -> bool:
    """A run that made a collection and stored nothing in it (every file failed, or it was
    interrupted before the first batch) leaves no empty collection behind; True if it dropped one."""
    if workspace.created and workspace.collection.count() == 0:
        workspace.store.delete_collection(workspace.collection.name)
        return True
    return False
