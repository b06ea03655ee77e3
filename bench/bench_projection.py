"""Projection time: PCA, t-SNE and UMAP (2-D) at growing n, and how time grows with n.

Vectors: MiniLM embeddings of REAL text: paragraphs of the shared long documents
(two novels, the CommonMark spec), then SciFact abstracts (title + first 300
characters), up to --real texts (default 10,000; about a minute of embedding,
cached in data/cache/bench-query/). Sizes above --real are AUGMENTED: the real
vectors repeated, each copy with small gaussian noise (sigma 0.02 per dimension,
then re-normalised), so the larger sizes have real structure but are not real
chunks. The output says which sizes are augmented.

Each cell is one fit (no repeats: t-SNE at 50k takes many minutes). The growth
exponent b is fitted to time = a * n^b over the measured sizes (log-log least
squares). A run whose predicted time (from the exponent so far, or n^2 with one
size) exceeds --time-cap is skipped and marked so. The trust column times
neighbourhood preservation (k=10) on the PCA map.

    .venv/bin/python bench/bench_projection.py            # 2k, 10k, 50k (the lead runs this)
    .venv/bin/python bench/bench_projection.py --quick    # 500, 1k, 2k: checks the bench works

--points N measures the default layout at scale instead: the real sample chunks (two novels and
the CommonMark spec, 2,411 MiniLM vectors as shipped, one category per document) are mapped by PCA
and by the default (UMAP), then a SYNTHETIC collection of N points is made from them the way
bench/bench_map.py makes its collection (each real vector repeated under a new id with gaussian
noise sigma 0.02, re-normalised; category and original chunk kept), held in memory (the bench times
the layout, not the store: bench_import.py times a 1M-point store), and mapped by PCA and by the
default, which fits UMAP on FIT_SAMPLE points and places the rest. Printed per map: wall and CPU
seconds, the trust figure the app shows (10 nearest neighbours kept), and of each point's 10 nearest
map neighbours the share in its category and the share that are copies of its own chunk.

    .venv/bin/python bench/bench_projection.py --points 1000000
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_query import embed_cached  # noqa: E402
from common import LONG_DOCS, SCIFACT, machine_line  # noqa: E402
from core.embedders import get_embedder, normalise  # noqa: E402
from core.projection import METHOD_LABELS, METHODS, ProjectionSettings, project  # noqa: E402
from core.trust import nearest_others, neighbourhood_preservation  # noqa: E402

NOISE_SIGMA = 0.02


def real_texts(limit: int) -> list[str]:
    """Paragraphs of the long documents (at least 40 characters, cut at 600), then SciFact abstracts."""
    texts: list[str] = []
    for path in sorted(LONG_DOCS.glob("*.txt")):
        if "LICENSE" in path.name:
            continue
        paragraphs = path.read_text(encoding="utf-8").split("\n\n")
        texts.extend(" ".join(p.split())[:600] for p in paragraphs if len(p.strip()) >= 40)
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            texts.append(f"{row['title']}. {row['text'][:300]}")
    return texts[:limit]


def vectors_of_size(real: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n vectors: the real ones when enough, else real ones repeated with gaussian noise."""
    if n <= len(real):
        return real[rng.choice(len(real), n, replace=False)]
    repeats = real[rng.integers(0, len(real), n - len(real))]
    noisy = repeats + rng.normal(0.0, NOISE_SIGMA, repeats.shape).astype(np.float32)
    return np.concatenate([real, normalise(noisy)])


def growth_exponent(sizes: list[int], seconds: list[float]) -> float | None:
    if len(sizes) < 2:
        return None
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def predicted(sizes: list[int], seconds: list[float], n: int) -> float | None:
    if not sizes:
        return None
    exponent = growth_exponent(sizes, seconds) or 2.0
    return seconds[-1] * (n / sizes[-1]) ** exponent


def sample_chunks() -> tuple[np.ndarray, np.ndarray]:
    """The shipped sample chunks' vectors and categories, read from a sample store made in a temporary folder."""
    import tempfile

    from core.projection import load_points
    from core.samples import ensure_samples
    from core.stores import open_store
    from core.workspace import open_workspace

    with tempfile.TemporaryDirectory() as folder:
        ensure_samples(open_store(folder), get_embedder("minilm"))
        points = load_points(open_workspace(folder, "samples").collection)
    categories = np.array([str(m.get("category") or "") for m in points.chunks.metadatas])
    return points.chunks.embeddings, categories


def measure_layout(name: str, vectors: np.ndarray, groups: dict[str, np.ndarray], method: str) -> dict[str, str]:
    """One default-settings map of `vectors`: seconds, trust, and agreement of map neighbours with each grouping."""
    started, cpu_started = time.perf_counter(), time.process_time()
    last = [0.0]

    def report(event) -> None:  # progress as the page shows it, at most every 5 s
        if time.perf_counter() - last[0] > 5 or event.stage == "done":
            last[0] = time.perf_counter()
            print(f"  {name} {method}: {event.stage} {event.done}/{event.total} {event.detail} "
                  f"({last[0] - started:.0f} s)", file=sys.stderr)

    result = project(vectors, ProjectionSettings(method=method), report, cache_dir=None)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rows = np.sort(np.random.default_rng(1).choice(len(vectors), min(2_000, len(vectors)), replace=False))
    trust = neighbourhood_preservation(vectors, result.coords)
    nearest = nearest_others(result.coords, 10, rows)
    row = {"data": name, "method": result.settings.describe(), "wall s": f"{wall:,.1f}", "CPU s": f"{cpu:,.1f}",
           "trust (of 10 nearest kept)": f"{trust.mean:.3f}"}
    for label, group in groups.items():
        row[f"10 map neighbours: same {label}"] = f"{(group[nearest] == group[rows, None]).mean():.3f}"
    return row


def scale_mode(points: int) -> None:
    """The default layout vs PCA on the real samples, then on a synthetic collection of `points`."""
    print(machine_line())
    real, categories = sample_chunks()
    for method in ("pca", "umap"):  # untimed: imports and numba compilation are not layout time
        project(real[:500], ProjectionSettings(method=method), cache_dir=None)
    load_before = os.getloadavg()[0]
    rows = [measure_layout(f"samples ({len(real):,} real chunks)", real, {"category": categories}, method)
            for method in ("pca", "umap")]
    rng = np.random.default_rng(0)
    origin = np.arange(points) % len(real)
    vectors = np.empty((points, real.shape[1]), dtype=np.float32)
    for lo in range(0, points, 100_000):  # in slices: the noise for a million rows at once is 3 GB of float64
        rows_ = origin[lo:lo + 100_000]
        vectors[lo:lo + len(rows_)] = normalise(
            real[rows_] + rng.normal(0.0, NOISE_SIGMA, (len(rows_), real.shape[1])).astype(np.float32))
    synthetic = f"SYNTHETIC {points:,}"
    for method in ("pca", "umap"):
        rows.append(measure_layout(synthetic, vectors, {"category": categories[origin], "chunk": origin}, method))
    columns = list(dict.fromkeys(c for row in rows for c in row))
    print("\n| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row.get(c, "") for c in columns) + " |")
    print(f"\nload average (1 min) before {load_before:.1f}, after {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. "
          "The synthetic points' 10 nearest full-space neighbours are noisy copies of the same chunk, picked by the "
          "noise, which no 2-D map can keep: there the same-chunk share says whether a chunk's copies stay together.")
    pca, umap_row = rows[2], rows[3]
    print(f"projection: points={points} umap_s={umap_row['wall s'].replace(',', '')} "
          f"pca_s={pca['wall s'].replace(',', '')} trust_umap={umap_row['trust (of 10 nearest kept)']} "
          f"trust_pca={pca['trust (of 10 nearest kept)']} "
          f"category_umap={umap_row['10 map neighbours: same category']} "
          f"category_pca={pca['10 map neighbours: same category']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=None,
                        help="measure the default layout (UMAP, sample + place) against PCA at this many points")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 10_000, 50_000])
    parser.add_argument("--quick", action="store_true", help="sizes 500, 1000, 2000 (all real text)")
    parser.add_argument("--real", type=int, default=10_000, help="real texts to embed (default 10,000)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--time-cap", type=float, default=1800.0,
                        help="skip a run predicted to take longer than this many seconds (default 1800)")
    args = parser.parse_args()
    if args.points:
        scale_mode(args.points)
        return
    sizes = [500, 1_000, 2_000] if args.quick else sorted(args.sizes)
    real_count = min(args.real, max(sizes))

    print(machine_line())
    texts = real_texts(real_count)
    print(f"embedding {len(texts):,} real texts with minilm (cached after the first run)…", file=sys.stderr)
    real = embed_cached(get_embedder("minilm"), texts)
    rng = np.random.default_rng(0)
    # One untimed fit per method first: imports and numba compilation are not projection time.
    for method in args.methods:
        project(real[:200], ProjectionSettings(method=method), cache_dir=None)
    load_before = os.getloadavg()[0]

    times: dict[str, list[float]] = {m: [] for m in args.methods}
    done: dict[str, list[int]] = {m: [] for m in args.methods}
    rows = []
    for n in sizes:
        vectors = vectors_of_size(real, n, rng)
        row = {"n": f"{n:,}" + (" (augmented)" if n > len(real) else "")}
        for method in args.methods:
            guess = predicted(done[method], times[method], n)
            if guess is not None and guess > args.time_cap:
                row[method] = f"skipped (predicted {guess:,.0f} s > cap)"
                continue
            started = time.perf_counter()
            result = project(vectors, ProjectionSettings(method=method), cache_dir=None)
            elapsed = time.perf_counter() - started
            times[method].append(elapsed)
            done[method].append(n)
            row[method] = f"{elapsed:,.1f}"
            print(f"  n={n:,} {method}: {elapsed:.1f} s", file=sys.stderr)
            if method == "pca":
                started = time.perf_counter()
                neighbourhood_preservation(vectors, result.coords)
                row["trust"] = f"{time.perf_counter() - started:,.1f}"
        rows.append(row)

    columns = ["n", *args.methods] + (["trust"] if "pca" in args.methods else [])
    labels = {"n": "points", "trust": "trust k=10 (PCA map)", **METHOD_LABELS}
    print(f"\nSeconds per 2-D fit, MiniLM vectors ({len(real):,} real texts; larger sizes augmented with "
          f"gaussian noise sigma {NOISE_SIGMA}), cosine metric, default settings (perplexity 30; "
          "n_neighbors 15, min_dist 0.1). One run per cell.\n")
    print("| " + " | ".join(labels.get(c, c) for c in columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row.get(c, "") for c in columns) + " |")
    print(f"\nload average (1 min) before timing {load_before:.1f}, after {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores (the fits themselves use every core; a load well above the core count "
          "means other work was competing and times are inflated).")
    exponents = {m: growth_exponent(done[m], times[m]) for m in args.methods}
    print("growth exponent b in time ~ n^b (fitted over the measured sizes): "
          + ", ".join(f"{METHOD_LABELS[m]} {b:.2f}" if b is not None else f"{METHOD_LABELS[m]} n/a"
                      for m, b in exponents.items()))


if __name__ == "__main__":
    main()
