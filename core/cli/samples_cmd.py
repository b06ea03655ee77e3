"""`python -m core samples`: ingest the built-in sample corpus (a no-op once done);
`--write-vectors` re-embeds the samples and rewrites the vectors shipped with them."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

from ..config import DEFAULT_EMBEDDER, SAMPLE_COLLECTION
from ..embedders import get_embedder
from ..samples import (SAMPLE_SENTENCE_VECTORS, SAMPLE_VECTORS, ensure_samples, write_sample_vectors,
                       write_sentence_vectors)
from ..stores import open_store
from ..types import ProgressCallback, ProgressEvent
from .common import add_store_options, store_url
from .ingest import progress_bar

LOG_EVERY_S = 5.0  # a progress line at most this often when stderr is not a terminal


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("samples", help=f"ingest the sample corpus into '{SAMPLE_COLLECTION}'")
    add_store_options(p)
    p.set_defaults(run=run)
    p.add_argument("--write-vectors", action="store_true",
                   help=f"embed every sample chunk and rewrite {SAMPLE_VECTORS.name} (for maintainers)")


def log_lines(label: str, clock: Callable[[], float] = time.monotonic) -> ProgressCallback:
    """Progress as plain lines on stderr (for logs and pipes, where a bar is hidden): each new
    stage, and at most one line every LOG_EVERY_S seconds within a stage."""
    last: dict[str, object] = {"stage": None, "at": 0.0}

    def show(event: ProgressEvent) -> None:
        now = clock()
        if event.stage == last["stage"] and now - float(last["at"]) < LOG_EVERY_S:
            return
        last.update(stage=event.stage, at=now)
        share = f" {100 * event.done / event.total:.0f}%" if event.total else ""
        print(f"{label}: {event.stage}{share} {event.detail}".rstrip(), file=sys.stderr, flush=True)

    return show


def run(args: argparse.Namespace) -> int:
    embedder = get_embedder(DEFAULT_EMBEDDER)
    if args.write_vectors:
        with progress_bar("sample vectors") as show:
            count = write_sample_vectors(embedder, progress=show)
            sentence_count = write_sentence_vectors(embedder, progress=show)
        print(f"wrote {count} vectors to {SAMPLE_VECTORS} and {sentence_count} to {SAMPLE_SENTENCE_VECTORS}")
        return 0
    store = open_store(store_url(args))
    with progress_bar("samples") as bar:
        lines = log_lines("samples") if not sys.stderr.isatty() else None

        def show(event: ProgressEvent) -> None:
            bar(event)
            if lines:
                lines(event)

        report = ensure_samples(store, embedder, progress=show)
    print(f"sample collection '{SAMPLE_COLLECTION}' ready: {report.summary()}")
    return 0
