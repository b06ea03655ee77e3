"""`python -m core samples`: ingest the built-in sample corpus (a no-op once done)."""
from __future__ import annotations

import argparse

from ..config import DEFAULT_EMBEDDER, SAMPLE_COLLECTION
from ..embedders import get_embedder
from ..samples import ensure_samples
from ..stores import open_store
from .common import add_store_options, store_url
from .ingest import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("samples", help=f"ingest the sample corpus into '{SAMPLE_COLLECTION}'")
    add_store_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(store_url(args))
    with progress_bar("samples") as show:
        report = ensure_samples(store, get_embedder(DEFAULT_EMBEDDER), progress=show)
    print(f"sample collection '{SAMPLE_COLLECTION}' ready: {report.summary()}")
    return 0
