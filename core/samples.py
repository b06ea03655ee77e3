"""The built-in sample corpus the app opens on when nothing else is loaded:
two public-domain novels and a technical spec, each with its own category, so
clusters, search and chat have something real to show on the first run."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .config import DEFAULT_CHUNKING, SAMPLE_COLLECTION, SAMPLES_DIR
from .embedders import Embedder
from .pipeline import IngestReport, LoadOptions, Upload, ingest
from .stores import Store
from .types import ProgressCallback, no_progress


# Project Gutenberg files wrap the book in a header and a long license footer; the
# files ship whole (the license asks for that), but only the book is worth searching.
GUTENBERG_BODY = re.compile(r"\*\*\* START OF TH(?:E|IS) PROJECT GUTENBERG EBOOK[^\n]*\n(.*?)\*\*\* END OF TH", re.S)


@dataclass(frozen=True)
class Sample:
    path: Path
    title: str
    category: str

    def body(self) -> str:
        """The text worth ingesting: the book itself for a Project Gutenberg file, else all of it."""
        text = self.path.read_text(encoding="utf-8")
        match = GUTENBERG_BODY.search(text)
        return match.group(1).strip() if match else text


def samples() -> list[Sample]:
    entries = json.loads((SAMPLES_DIR / "manifest.json").read_text(encoding="utf-8"))
    return [Sample(SAMPLES_DIR / e["file"], e["title"], e["category"]) for e in entries]


def ensure_samples(store: Store, embedder: Embedder, progress: ProgressCallback = no_progress) -> IngestReport:
    """Ingest the samples into the sample collection; a no-op when they are already there."""
    collection = store.open_collection(SAMPLE_COLLECTION, embedder.info)
    report = IngestReport()
    for sample in samples():
        book = Upload(sample.path.name, sample.body().encode("utf-8"))
        part = ingest([book], collection, embedder, DEFAULT_CHUNKING, LoadOptions(category=sample.category),
                      progress=progress)
        report.merge(part)
    return report
