"""`python -m core project`: a 2-D/3-D map of a collection as CSV (id, x, y[, z], category, source)."""
from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

from ..errors import ExplorerError
from ..projection import METHODS, METRICS, ProjectionSettings, load_points, project
from ..types import ProgressEvent
from ..workspace import open_workspace
from .common import add_store_options, store_url, whole_number

D = ProjectionSettings()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("project", help="write 2-D/3-D map coordinates of a collection as CSV",
                       description="Project a collection's vectors to 2 or 3 dimensions (PCA, t-SNE or UMAP) and "
                                   "write one CSV row per chunk. Results are cached in data/cache/projections/.")
    add_store_options(p)
    p.add_argument("--collection", required=True, help="collection to map")
    p.add_argument("--method", choices=METHODS, required=True)
    p.add_argument("--dims", type=int, choices=[2, 3], default=D.dims)
    p.add_argument("--perplexity", type=float, default=D.perplexity,
                   help=f"t-SNE perplexity (default {D.perplexity:g}; lowered to (n-1)/3 for small collections)")
    p.add_argument("--n-neighbors", type=int, default=D.n_neighbors, help=f"UMAP n_neighbors (default {D.n_neighbors})")
    p.add_argument("--min-dist", type=float, default=D.min_dist, help=f"UMAP min_dist (default {D.min_dist:g})")
    p.add_argument("--metric", choices=METRICS, default=D.metric)
    p.add_argument("--seed", type=int, default=D.seed)
    p.add_argument("--sample", type=whole_number(1), default=None, metavar="N",
                   help="map a seeded random sample of N chunks (default: all)")
    p.add_argument("--out", type=Path, required=True, help="CSV file to write")
    p.set_defaults(run=run)


def _report(event: ProgressEvent) -> None:
    total = f"/{event.total}" if event.total else ""
    print(f"{event.stage} {event.done}{total} {event.detail}".rstrip(), file=sys.stderr)


def check_writable(out: Path) -> None:
    """Refuse an --out that cannot be written before minutes of projecting, not after."""
    if out.is_dir():
        raise ExplorerError(f"--out {out} is a folder; give a file name, e.g. {out / 'map.csv'}")
    if not out.parent.is_dir():
        raise ExplorerError(f"--out {out}: the folder {out.parent} does not exist; create it first")
    if not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise ExplorerError(f"--out {out}: no permission to write there")


def run(args: argparse.Namespace) -> int:
    check_writable(args.out)
    settings = ProjectionSettings(method=args.method, dims=args.dims, perplexity=args.perplexity,
                                  n_neighbors=args.n_neighbors, min_dist=args.min_dist, metric=args.metric,
                                  seed=args.seed)
    settings.check()
    workspace = open_workspace(store_url(args), args.collection)
    points = load_points(workspace.collection, cap=args.sample or workspace.collection.count())
    assert points.chunks.embeddings is not None
    projection = project(points.chunks.embeddings, settings, _report, data_key=points.fingerprint)
    if projection.settings != settings:
        print(f"note: settings adjusted to the {len(points.chunks.ids)} chunks: {projection.settings.describe()}",
              file=sys.stderr)
    axes = ["x", "y", "z"][:settings.dims]
    with args.out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", *axes, "category", "source"])
        for chunk_id, row, meta in zip(points.chunks.ids, projection.coords, points.chunks.metadatas):
            writer.writerow([chunk_id, *(f"{v:.6g}" for v in row), meta.get("category", ""), meta.get("source", "")])
    sampled = f" (a sample of {points.total:,})" if points.sampled else ""
    print(f"wrote {len(points.chunks.ids):,} points{sampled} to {args.out} ({settings.describe()})")
    return 0
