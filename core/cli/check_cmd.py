"""`python -m core check`: is every collection whole? Exit 1 when any is not."""
from __future__ import annotations

import argparse

from ..health import check_store
from ..stores import open_store
from .common import add_store_options, store_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check that collections are whole (ids, vectors, documents, keyword index)",
                       description="Per collection: ids are unique; every row has its text, metadata and a usable "
                                   "vector; a sample of stored vectors and texts finds its own chunk by vector and "
                                   "by keyword search. Prints 'healthy' or what is wrong; exits 1 when anything is.")
    add_store_options(p)
    p.add_argument("--collection", default=None, help="check only this collection (default: all)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    reports = check_store(open_store(store_url(args)), args.collection)
    if not reports:
        print("no collections to check")
    for health in reports:
        size = f"{health.chunks:,} chunks" if health.chunks is not None else "unreadable"
        notes = "".join(f"\n  note: {note}" for note in health.notes)
        if health.healthy:
            print(f"{health.collection} ({size}): healthy{notes}")
            continue
        print(f"{health.collection} ({size}): NOT healthy")
        for problem in health.problems:
            print(f"  - {problem.message}")
    damaged = [h.collection for h in reports if not h.healthy]
    if damaged:
        fixable = [h.collection for h in reports if any(p.kind in ("vector", "keyword") for p in h.problems)]
        if fixable:
            print("run `python -m core repair --collection NAME` to rebuild: " + ", ".join(fixable))
        return 1
    return 0
