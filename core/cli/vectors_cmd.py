"""`python -m core import` / `export`: vectors made elsewhere into a collection, and a collection out.

Parquet/Arrow, `.npy` + a metadata CSV/JSONL, and TensorFlow Projector's TSV pair: see core/vectorfiles.py.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..stores import open_store
from ..vectorfiles import Fields, export_vectors, import_vectors
from ..workspace import open_workspace
from .common import add_store_options, store_url
from .ingest import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="load vectors made elsewhere (Parquet, Arrow, .npy, Projector TSV)",
                       description="Import vectors with their ids, text and metadata into a collection, streamed "
                                   "in batches. The collection records that its vectors came from a file; name "
                                   "the model with --model (one this app runs, e.g. minilm, makes it searchable "
                                   "by text). Importing the same ids again replaces those rows.")
    p.add_argument("path", type=Path, metavar="PATH", help=".parquet, .arrow/.feather, .npy or vectors .tsv")
    add_store_options(p)
    p.add_argument("--collection", required=True, help="collection to import into (created if missing)")
    p.add_argument("--vector-field", help="Parquet/Arrow: the list column holding the vectors (default: guessed)")
    p.add_argument("--text-field", help="column holding each row's text (default: 'text' if present)")
    p.add_argument("--id-field", help="column holding each row's id (default: the row number)")
    p.add_argument("--category-field", help="column holding each row's category")
    p.add_argument("--metadata", type=Path, metavar="FILE",
                   help=".npy: a CSV/JSONL with one row per vector; Projector: its metadata.tsv")
    p.add_argument("--model", help="the model that made the vectors (default: unknown)")
    p.set_defaults(run=run_import)

    e = sub.add_parser("export", help="write a collection's vectors as Parquet, .npy + JSONL or Projector TSV",
                       description="Write a collection's ids, texts, metadata and vectors, page by page. The "
                                   "format follows the file name: .parquet; .npy (plus a .jsonl beside it); .tsv "
                                   "(TensorFlow Projector: vectors plus NAME_metadata.tsv beside it).")
    e.add_argument("path", type=Path, metavar="PATH", help="file to write: .parquet, .npy or .tsv")
    add_store_options(e)
    e.add_argument("--collection", required=True, help="collection to export")
    e.set_defaults(run=run_export)


def run_import(args: argparse.Namespace) -> int:
    fields = Fields(vector=args.vector_field, text=args.text_field, id=args.id_field, category=args.category_field)
    with progress_bar("import") as show:
        report = import_vectors(args.path, open_store(store_url(args)), args.collection, fields,
                                metadata=args.metadata, model=args.model, progress=show)
    print(report.summary())
    return 0


def run_export(args: argparse.Namespace) -> int:
    workspace = open_workspace(store_url(args), args.collection)
    with progress_bar("export") as show:
        written = export_vectors(workspace.collection, args.path, progress=show)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0
