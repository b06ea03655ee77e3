"""`python -m core labels`: check a collection's labels (suspects, outliers, confusion, clusters), fix and tag them."""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from ..errors import ExplorerError
from ..label_edits import LabelEdits, Target, write_export
from ..labels import DEFAULT_K, DEFAULT_THRESHOLD, LabelReport, check_points, document_names, label_values
from ..projection import ProjectionSettings, load_points, project
from ..workspace import open_workspace
from .common import add_store_options, store_url, whole_number
from .project_cmd import _report, check_writable


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("labels", help="check labels: suspects, outliers, which labels bleed into which",
                       description="Check a collection's labels against its embedding space: per-label agreement "
                                   "of nearest neighbours, the neighbourhood confusion matrix, clusters against the "
                                   "labels (ARI, NMI), documents whose label looks wrong (most suspect first) and "
                                   "outliers. New labels and tags go into this tool's own overlay (data/labels/), "
                                   "never into the store; the next check uses them.")
    add_store_options(p)
    p.add_argument("--collection", required=True, help="collection to check")
    p.add_argument("--field", default="category", help="metadata field holding the label (default category)")
    p.add_argument("-k", type=whole_number(2, 200), default=DEFAULT_K,
                   help=f"neighbours per chunk (default {DEFAULT_K})")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help=f"a document is suspect when 1 - P(its label) is above this (default {DEFAULT_THRESHOLD:g})")
    p.add_argument("--top", type=whole_number(1), default=20, help="suspects and outliers printed (default 20)")
    p.add_argument("--out", type=Path, help="write the suspects as CSV: document,label,suggested,score")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument("--set-label", action="append", default=[], metavar="ID=LABEL",
                   help="give a document (its name as the report shows it) or a chunk id a new label (repeatable)")
    p.add_argument("--tag", action="append", default=[], metavar="ID=TAG", help="tag a document or chunk (repeatable)")
    p.add_argument("--export", type=Path, metavar="FILE",
                   help="write the overlay's edits (id, document, old label, new label, tag) as CSV or .parquet")
    p.set_defaults(run=run)


def _pairs(items: list[str], option: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, sep, value = item.rpartition("=")
        if not sep or not key:
            raise ExplorerError(f"{option} {item!r}: write ID=VALUE (a document name or chunk id, '=', the value)")
        pairs.append((key, value))
    return pairs


def _targets(key: str, ids: list[str], documents: list[str], values: list[str | None]) -> list[Target]:
    rows = [i for i, d in enumerate(documents) if d == key] or [i for i, c in enumerate(ids) if c == key]
    if not rows:
        raise ExplorerError(f"'{key}' is neither a document nor a chunk id of this collection")
    return [Target(ids[i], documents[i], values[i]) for i in rows]


def report_json(report: LabelReport, top: int) -> dict:
    return {
        "field": report.field, "k": report.k, "threshold": report.threshold, "labels": list(report.labels),
        "unlabelled_chunks": report.unlabelled, "unjudged_documents": report.unjudged,
        "per_label": [{"label": s.label, "chunks": s.chunks, "documents": s.documents, "agreement": s.agreement,
                       "map_agreement": s.map_agreement, "silhouette": s.silhouette} for s in report.stats],
        "confusion": report.confusion.tolist(), "ari": report.ari, "nmi": report.nmi,
        "suspects": [{"document": s.document, "label": s.label, "suggested": s.suggested, "score": s.score}
                     for s in report.flagged],
        "outliers": [{"document": o.document, "label": o.label, "distance": o.distance} for o in report.outliers[:top]],
    }


def _print(report: LabelReport, top: int) -> None:
    print(f"labels in '{report.field}': {len(report.labels)}; k = {report.k}"
          + (f"; {report.unlabelled:,} chunks without one left out" if report.unlabelled else ""))
    print(f"{'label':30} {'chunks':>7} {'docs':>6} {'agree':>6} {'on map':>6} {'silh.':>6}")
    for s in report.stats:
        on_map = f"{s.map_agreement:.2f}" if s.map_agreement is not None else "-"
        print(f"{s.label[:30]:30} {s.chunks:>7,} {s.documents:>6,} {s.agreement:>6.2f} {on_map:>6} "
              f"{s.silhouette:>6.2f}")
    print(f"\nclusters (k-means, {len(report.labels)}) against the labels: ARI {report.ari:.3f}, NMI {report.nmi:.3f}")
    print("\nneighbourhood confusion (rows: label; columns: the label most neighbours carry):")
    for label, row in zip(report.labels, report.confusion):
        bleeds = [f"{report.labels[j]} {n}" for j, n in enumerate(row) if n and report.labels[j] != label]
        print(f"  {label}: {row.sum():,} chunks" + (f", voted elsewhere: {', '.join(bleeds)}" if bleeds else ""))
    flagged = report.flagged
    print(f"\nsuspect labels: {len(flagged):,} documents above {report.threshold:g}"
          + (f" ({report.unjudged} not judged: no other document has their label)" if report.unjudged else ""))
    for s in flagged[:top]:
        print(f"  {s.score:.3f}  {s.document}  {s.label} -> {s.suggested}")
    print("\noutliers (1 - mean cosine to the nearest neighbours):")
    for o in report.outliers[:top]:
        print(f"  {o.distance:.3f}  {o.document}  {o.label}")


def run(args: argparse.Namespace) -> int:
    for path in (args.out, args.export):
        if path is not None:
            check_writable(path)
    workspace = open_workspace(store_url(args), args.collection)
    edits = LabelEdits(workspace.store.url, workspace.collection.name)
    if args.set_label or args.tag or args.export:
        if args.set_label or args.tag:
            chunks = workspace.collection.get()
            documents = document_names(chunks.metadatas)
            values = label_values(chunks.metadatas, args.field)
            for key, label in _pairs(args.set_label, "--set-label"):
                version = edits.set_label(args.field, _targets(key, chunks.ids, documents, values), label)
                print(f"version {version}: {key} -> {args.field} '{label}'")
            for key, tag in _pairs(args.tag, "--tag"):
                version = edits.set_tag(args.field, _targets(key, chunks.ids, documents, values), tag)
                print(f"version {version}: {key} tagged '{tag}'")
        if args.export:
            frame = edits.export_frame(args.field)
            write_export(frame, args.export)
            print(f"wrote {len(frame):,} edited chunks to {args.export}")
        return 0
    points = load_points(workspace.collection, cap=workspace.collection.count(), progress=_report)
    assert points.chunks.embeddings is not None
    coords = project(points.chunks.embeddings, ProjectionSettings(method="pca"), data_key=points.fingerprint).coords
    report = check_points(points, coords, args.field, edits, args.k, args.threshold, _report)
    if args.out:
        with args.out.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["document", "label", "suggested", "score"])
            writer.writerows([s.document, s.label, s.suggested, f"{s.score:.4f}"] for s in report.flagged)
        print(f"wrote {len(report.flagged):,} suspects to {args.out}", file=sys.stderr)
    if args.json:
        print(json.dumps(report_json(report, args.top), ensure_ascii=False, indent=1))
    else:
        _print(report, args.top)
    return 0
