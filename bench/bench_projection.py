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
from core.trust import neighbourhood_preservation  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 10_000, 50_000])
    parser.add_argument("--quick", action="store_true", help="sizes 500, 1000, 2000 (all real text)")
    parser.add_argument("--real", type=int, default=10_000, help="real texts to embed (default 10,000)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--time-cap", type=float, default=1800.0,
                        help="skip a run predicted to take longer than this many seconds (default 1800)")
    args = parser.parse_args()
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
