"""The map at 100,000 points: first view and revisit, as the map page computes them.

Collection: SYNTHETIC. Paragraphs of the shared long documents (one category per
book) are embedded with MiniLM (real vectors, cached in data/cache/bench-map/),
then repeated under new ids up to --points, each copy with small gaussian noise
(sigma 0.02 per dimension, re-normalised) so no two points coincide. The
collection is kept in data/cache/bench-map/ (or --folder DIR/store) and reused by later runs.
It is written the way a big import is (tests/map_fixtures.py write_noisy_copies: Collection.bulk_write,
batches of precomputed vectors, the keyword index built once at the end from the stored text).

--build-only also reads the map's points as the page does (a million at most) and computes the
page's default layout (UMAP: fitted on a sample, the rest placed by nearest neighbours), kept in
DIR/map-points and DIR/projections (data/cache/... without --folder); bench_map_browser.py
links them into the app's caches, so its first view is the one with the projection cached.

Timed, in this process, the way the page does it (core calls only, no browser):
- first view: read the points (store -> MapPoints), the PCA map the page draws at once for
  that size, the neighbourhood-preservation estimate, the figure as JSON;
- revisit: the same with the disk caches warm (points cache keyed by the
  collection's version, map and trust caches keyed by content), as after a restart
  of the app; within one app process Streamlit's memory caches skip all but the figure.
Wall time and this process's CPU time per step: on a busy machine the second says
what a step costs.
Also the figure's JSON size (what the browser downloads for the chart).

    .venv/bin/python bench/bench_map.py [--points 100000] [--folder DIR] [--build-only]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from common import embed_cached, long_doc_paths, machine_line  # noqa: E402
from core.bundle import map_bundle  # noqa: E402
from core.config import DATA_DIR  # noqa: E402
from core.embedders import get_embedder  # noqa: E402
from core.map_figure import Colouring, map_figure  # noqa: E402
from core.palette import category_colours  # noqa: E402
from core.projection import (DEFAULT_CACHE_DIR, DEFAULT_SAMPLE_CAP, MAP_POINTS, POINTS_CACHE_DIR,  # noqa: E402
                             ProjectionSettings, cached_points, project)
from core.stores import open_store  # noqa: E402
from core.trust import DEFAULT_K, cached_preservation  # noqa: E402
from map_fixtures import write_noisy_copies  # noqa: E402

STORE = DATA_DIR / "cache" / "bench-map"  # the 100,000-point store; other sizes get their own (store_for)
NOISE_SIGMA = 0.02
PER_BOOK = 700  # real paragraphs per book: a few minutes of embedding on 2 cores


def real_paragraphs() -> tuple[list[str], list[str]]:
    """Up to PER_BOOK paragraphs (40+ characters, cut at 600) of each long document, with its name."""
    texts, books = [], []
    for path in long_doc_paths():
        paragraphs = [" ".join(p.split())[:600] for p in path.read_text(encoding="utf-8").split("\n\n")
                      if len(p.strip()) >= 40][:PER_BOOK]
        texts += paragraphs
        books += [path.stem] * len(paragraphs)
    return texts, books


def store_for(size: int, folder: Path | None = None) -> Path:
    """The store holding the collection of `size` points: one collection per store, as the app opens
    a store's first collection."""
    if folder is not None:
        return folder / "store"
    return STORE if size == 100_000 else STORE.parent / f"bench-map-{size}"


def cache_dirs(folder: Path | None) -> tuple[Path, Path]:
    """Where `precompute` keeps the map's points and its layouts: beside the store under --folder,
    else the app's own caches."""
    if folder is None:
        return POINTS_CACHE_DIR, DEFAULT_CACHE_DIR
    return folder / "map-points", folder / "projections"


def build(size: int, folder: Path | None = None):
    """The synthetic collection of `size` points (reused when complete)."""
    embedder = get_embedder("minilm")
    name = f"map-{size}"
    collection = open_store(str(store_for(size, folder))).open_collection(name, embedder.info)
    if collection.count() == size:
        return collection
    texts, books = real_paragraphs()
    base = embed_cached(embedder, texts, STORE)
    write_noisy_copies(collection, texts, [{"source": b, "category": b} for b in books], base, size, NOISE_SIGMA)
    return collection


def precompute(collection, folder: Path | None) -> None:
    """The map page's points (its default cap) and its default layout, into `cache_dirs(folder)`."""
    points_dir, layouts_dir = cache_dirs(folder)
    started = time.perf_counter()
    url = open_store(str(store_for(collection.count(), folder))).url  # the page keys the points by its store's url
    points = cached_points(collection, url, MAP_POINTS, cache_dir=points_dir)
    print(f"  read {len(points.chunks.ids):,} map points ({time.perf_counter() - started:.0f}s)", file=sys.stderr,
          flush=True)

    def report(event) -> None:
        print(f"  layout: {event.stage} {event.detail or ''} ({time.perf_counter() - started:.0f}s)", file=sys.stderr,
              flush=True)

    project(points.chunks.embeddings, ProjectionSettings(), report, data_key=points.fingerprint, cache_dir=layouts_dir)
    print(f"  default layout cached ({time.perf_counter() - started:.0f}s)", file=sys.stderr, flush=True)


@dataclass
class View:
    seconds: dict[str, float]  # wall clock per step
    cpu: dict[str, float]  # this process's CPU time per step (all threads): what the step costs without contention
    points: int
    method: str
    figure_bytes: int


def first_view(collection, cache: Path) -> View:
    """The map page's first view, step by step (its own core calls, default settings)."""
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}
    started, cpu_started = time.perf_counter(), time.process_time()

    def lap(step: str) -> None:
        nonlocal started, cpu_started
        seconds[step], cpu[step] = time.perf_counter() - started, time.process_time() - cpu_started
        started, cpu_started = time.perf_counter(), time.process_time()

    points = cached_points(collection, str(store_for(collection.count())), DEFAULT_SAMPLE_CAP, cache_dir=cache / "points")
    lap("read the points (store, or the disk cache keyed by version)")
    settings = ProjectionSettings(method="pca")  # what the page draws at once; UMAP follows from a background job
    projection = project(points.chunks.embeddings, settings, data_key=points.fingerprint, cache_dir=cache / "maps")
    lap(f"{settings.describe()} (or its disk cache)")
    trust = cached_preservation(points.chunks.embeddings, projection.coords, DEFAULT_K, settings.metric,
                                map_key=f"{points.fingerprint}-{settings.key()}", cache_dir=cache / "maps")
    lap(f"neighbourhood preservation ({trust.measured:,} sampled points, or its disk cache)")
    view = map_bundle(collection.name, collection.embedder, points, projection)
    categories = [c or "(none)" for c in view.categories]
    figure = map_figure(view, Colouring(groups=categories, colours=category_colours(categories)))
    spec = figure.to_json()
    lap("figure as JSON (what the browser receives)")
    return View(seconds, cpu, len(view.ids), settings.describe(), len(spec.encode("utf-8")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", "--size", type=int, default=100_000, dest="size")
    parser.add_argument("--folder", type=Path, help="keep the store and its precomputed caches here")
    parser.add_argument("--build-only", action="store_true",
                        help="build the collection and precompute the page's points and default layout, then stop")
    args = parser.parse_args()
    collection = build(args.size, args.folder)
    if args.build_only:
        precompute(collection, args.folder)
        return
    print(machine_line())
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as cache:
        cold_started = time.perf_counter()
        cold = first_view(collection, Path(cache))
        cold_s = time.perf_counter() - cold_started
        warm_started = time.perf_counter()
        warm = first_view(collection, Path(cache))
        warm_s = time.perf_counter() - warm_started
    print(f"collection: SYNTHETIC {args.size:,} points: MiniLM vectors of {PER_BOOK} paragraphs per long document "
          f"repeated with gaussian noise sigma {NOISE_SIGMA}")
    print("| step | first view: wall s | CPU s | revisit: wall s | CPU s |")
    print("|---|---:|---:|---:|---:|")
    for step in cold.seconds:
        print(f"| {step} | {cold.seconds[step]:.1f} | {cold.cpu[step]:.1f} | {warm.seconds[step]:.2f} | "
              f"{warm.cpu[step]:.2f} |")
    print(f"| **total** | **{cold_s:.1f}** | **{sum(cold.cpu.values()):.1f}** | **{warm_s:.2f}** | "
          f"**{sum(warm.cpu.values()):.2f}** |")
    print(f"figure JSON: {cold.figure_bytes / 1e6:.1f} MB for {cold.points:,} points; "
          f"method {cold.method}; load average (1 min) before {load:.1f}, after {os.getloadavg()[0]:.1f}")
    print("CPU time is what the steps cost this process; with other work competing for the 2 cores, wall time is longer.")
    print(f"map: first_view_s={cold_s:.1f} revisit_s={warm_s:.2f} figure_mb={cold.figure_bytes / 1e6:.1f}")


if __name__ == "__main__":
    main()
