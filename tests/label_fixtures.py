"""A labelled CSV made of real sample chunks (one row = one document), with a few labels flipped,
ingested into a real Chroma folder; shared by the label tests (core, CLI, app, browser)."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import DEFAULT_CHUNKING
from core.pipeline import LoadOptions, Upload, ingest
from core.projection import MapPoints
from core.samples import with_shipped_vectors
from core.stores import open_store

ROWS_FILE = "rows.csv"


@dataclass(frozen=True)
class LabelledStore:
    store: str
    noisy: str  # collection with FLIPS applied
    clean: str  # the same rows with their true labels
    flipped: dict[str, tuple[str, str]]  # document -> (true label, label given)


def flips(categories: list[str], count: int = 3) -> dict[int, str]:
    """`count` rows spread over the set, each given the next category: a fixed, reproducible noise."""
    names = sorted(set(categories))
    rows = [int(i * len(categories) / count) + 2 for i in range(count)]
    return {r: names[(names.index(categories[r]) + 1) % len(names)] for r in rows}


def rows_csv(texts: list[str], labels: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "text", "label"])
    writer.writerows([f"r{i:03d}", text, label] for i, (text, label) in enumerate(zip(texts, labels)))
    return buffer.getvalue().encode("utf-8")


MIN_CHARS = 300  # shorter chunks ("I propose here to show cause.") could belong to any of the books


def build_labelled_store(folder: Path, points: MapPoints, embedder) -> LabelledStore:
    keep = [i for i, text in enumerate(points.chunks.texts) if len(text) >= MIN_CHARS]
    texts = [points.chunks.texts[i] for i in keep]
    truth = [str(points.chunks.metadatas[i]["category"]) for i in keep]
    flipped_rows = flips(truth)
    noisy = [flipped_rows.get(i, label) for i, label in enumerate(truth)]
    store = open_store(str(folder))
    fast = with_shipped_vectors(embedder)  # the sample chunks' texts: their vectors ship with the samples
    options = LoadOptions(text_field="text", category_field="label", id_field="id")
    for name, labels in (("noisy", noisy), ("clean", truth)):
        collection = store.open_collection(name, embedder.info)
        ingest([Upload(ROWS_FILE, rows_csv(texts, labels))], collection, fast, DEFAULT_CHUNKING, options)
    return LabelledStore(str(folder), "noisy", "clean",
                         {f"{ROWS_FILE}#r{i:03d}": (truth[i], label) for i, label in flipped_rows.items()})


@pytest.fixture(scope="session")
def labelled_store(tmp_path_factory: pytest.TempPathFactory, sample_points: MapPoints, minilm) -> LabelledStore:
    return build_labelled_store(tmp_path_factory.mktemp("labelled"), sample_points, minilm)


@pytest.fixture
def labels_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Label edits go to a temporary folder, never the repository's data/labels."""
    folder = tmp_path / "labels"
    monkeypatch.setenv("EXPLORER_LABELS_DIR", str(folder))
    return folder
