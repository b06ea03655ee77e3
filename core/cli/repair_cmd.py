"""`python -m core repair`: rebuild a damaged vector or keyword index from what the store still holds."""
from __future__ import annotations

import argparse

from ..health import collection_names, repair_collection
from ..stores import open_store
from .common import add_store_options, store_url
from .ingest import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("repair", help="rebuild damaged vector or keyword indexes",
                       description="Check each collection and rebuild what is broken from what the store still "
                                   "holds: the keyword index always; the vector index, when the check finds it "
                                   "out of step, by copying every row into a fresh collection (stored vectors "
                                   "where readable, the text re-embedded where not) and swapping it in.")
    add_store_options(p)
    p.add_argument("--collection", default=None, help="repair only this collection (default: all)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(store_url(args))
    names = collection_names(store, args.collection)  # a named one is checked to exist
    unhealthy = 0
    for name in names:
        with progress_bar(f"repair {name}") as show:
            report = repair_collection(store, name, progress=show)
        print(report.summary())
        unhealthy += not report.after.healthy
    return 1 if unhealthy else 0
