"""`python -m core project`: a 2-D/3-D map of a collection as CSV (id, x, y[, z], category, source), and
optionally the map's region labels (x, y, text, size, level) as CSV or JSON."""
from __future__ import annotations

import argparse
import csv
import os
import sys
from dataclasses import replace
from pathlib import Path

from ..clusters import labels_format, labels_text, map_labels
from ..errors import ExplorerError
from ..projection import (DEFAULT_METHOD, METHODS, METRICS, ProjectionSettings, load_points, preferred_method,
                          project)
from ..types import ProgressEvent
from ..workspace import open_workspace
from .common import add_store_options, store_url, whole_number

D = ProjectionSettings()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("project", help="write 2-D/3-D map coordinates of a collection as CSV",
                       description="Project a collection's vectors to 2 or 3 dimensions (UMAP, PCA or t-SNE) and "
                                   "write one CSV row per chunk. Results are cached in data/cache/projections/.")
    add_store_options(p)
    p.add_argument("--collection", required=True, help="collection to map")
    p.add_argument("--method", choices=METHODS, default=None,
                   help="default: UMAP, which keeps neighbourhoods (PCA when umap is missing or under 10 chunks); "
                        "above 50,000 chunks UMAP and t-SNE fit a sample and place the rest by nearest neighbours")
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
    p.add_argument("--labels-out", type=Path, default=None, metavar="FILE",
                   help="also write the 2-D map's region labels, coarse to fine (x, y, text, size, level), "
                        "as .csv or .json")
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
    if args.labels_out is not None:
        check_writable(args.labels_out)
        labels_format(args.labels_out)
        if args.dims != 2:
            raise ExplorerError("--labels-out labels a 2-D map; drop --dims 3 or --labels-out")
    settings = ProjectionSettings(method=args.method or DEFAULT_METHOD, dims=args.dims, perplexity=args.perplexity,
                                  n_neighbors=args.n_neighbors, min_dist=args.min_dist, metric=args.metric,
                                  seed=args.seed)
    settings.check()
    workspace = open_workspace(store_url(args), args.collection)
    points = load_points(workspace.collection, cap=args.sample or workspace.collection.count())
    if args.method is None:
        settings = replace(settings, method=preferred_method(len(points.chunks.ids)))
    assert points.chunks.embeddings is not None
    projection = project(points.chunks.embeddings, settings, _report, data_key=points.fingerprint)
    if projection.settings != settings:
        print(f"note: settings adjusted to the {len(points.chunks.ids)} chunks: {projection.settings.describe()}",
              file=sys.stderr)
    if args.labels_out is not None:
        labels = map_labels(projection.coords, points.chunks.texts, progress=_report)
        args.labels_out.write_text(labels_text(labels, labels_format(args.labels_out)), encoding="utf-8")
        print(f"wrote {len(labels)} labels to {args.labels_out}")
    axes = ["x", "y", "z"][:settings.dims]
    with args.out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", *axes, "category", "source"])
        for chunk_id, row, meta in zip(points.chunks.ids, projection.coords, points.chunks.metadatas):
            writer.writerow([chunk_id, *(f"{v:.6g}" for v in row), meta.get("category", ""), meta.get("source", "")])
    sampled = f" (a sample of {points.total:,})" if points.sampled else ""
    print(f"wrote {len(points.chunks.ids):,} points{sampled} to {args.out} ({projection.settings.describe()})")
    return 0
