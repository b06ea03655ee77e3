"""`python -m core ingest PATH...`: load, chunk, embed and store files, with a progress bar."""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from ..loaders import SUPPORTED_EXTENSIONS
from ..pipeline import LoadOptions, ingest
from ..types import ChunkSettings, ProgressCallback, ProgressEvent
from ..workspace import open_workspace
from .common import add_chunking_options, add_collection_options, chunk_settings, store_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="add files to a collection",
                       description="Load, chunk, embed and store files. Re-ingesting a file adds nothing; "
                                   "a changed file replaces its old chunks.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (searched for supported files)")
    add_collection_options(p)
    add_chunking_options(p)
    p.add_argument("--category", help="category label for every document in these files")
    p.add_argument("--text-field", help="CSV/JSONL: column(s) holding the text, comma-separated (e.g. title,text)")
    p.add_argument("--category-field", help="CSV/JSONL: column holding each row's category")
    p.add_argument("--metadata-field", action="append", default=[], metavar="F",
                   help="CSV/JSONL: extra column to keep as metadata (repeatable)")
    p.set_defaults(run=run)


def expand(paths: list[str]) -> list[Path]:
    """Folders become the supported files inside them; files are kept as given."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in SUPPORTED_EXTENSIONS)
        else:
            files.append(path)
    return files


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressCallback]:
    """A tqdm bar on stderr fed by core progress events (hidden when not a terminal)."""
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
    workspace = open_workspace(store_url(args), args.collection, args.embedder, create=True)
    options = LoadOptions(text_field=args.text_field, category_field=args.category_field,
                          metadata_fields=tuple(args.metadata_field), category=args.category)
    files = expand(args.paths)
    with progress_bar("ingest") as show:
        report = ingest(files, workspace.collection, workspace.embedder, settings, options, progress=show)
    for failure in report.failures:
        print(f"error: {failure} (skipped)", file=sys.stderr)
    print(f"{report.summary()}; collection '{workspace.collection.name}' now holds "
          f"{workspace.collection.count()} chunks")
    return 1 if report.failures else 0
