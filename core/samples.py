"""The built-in sample corpus the app opens on when nothing else is loaded:
two public-domain novels and a technical spec, each with its own category, so
clusters, search and chat have something real to show on the first run."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .config import DEFAULT_CHUNKING, SAMPLE_COLLECTION, SAMPLES_DIR
from .embedders import Embedder
from .pipeline import IngestReport, LoadOptions, ingest
from .stores import Store
from .types import ProgressCallback, no_progress


@dataclass(frozen=True)
class Sample:
    path: Path
    title: str
    category: str


def samples() -> list[Sample]:
    entries = json.loads((SAMPLES_DIR / "manifest.json").read_text(encoding="utf-8"))
    return [Sample(SAMPLES_DIR / e["file"], e["title"], e["category"]) for e in entries]


def ensure_samples(store: Store, embedder: Embedder, progress: ProgressCallback = no_progress) -> IngestReport:
    """Ingest the samples into the sample collection; a no-op when they are already there."""
    collection = store.open_collection(SAMPLE_COLLECTION, embedder.info)
    report = IngestReport()
    for sample in samples():
        part = ingest([sample.path], collection, embedder, DEFAULT_CHUNKING,
                      LoadOptions(category=sample.category), progress=progress)
        report.merge(part)
    return report
