"""Suspect labels against cleanlab on injected noise, and the whole label check at 100,000 chunks.

Quality. Data: paragraphs of the public-domain samples in data/samples (bench/labelled_paragraphs.py),
labelled by book (3 labels) and by part of a book (14 labels, harder), embedded with --model
(cached in data/cache/bench-labels/). For each seed, 5% of the labels are flipped to another label
drawn at random; each method ranks the paragraphs, and precision of the top N (N = number flipped)
says how many of its first N are flips.
- ours: `core.labels.check_labels` (neighbourhood vote + cross-validated shrinkage LDA), one
  document per paragraph, its suspects in order;
- cleanlab's standard recipe: 5-fold `cross_val_predict` LogisticRegression probabilities, then
  `cleanlab.filter.find_label_issues(..., return_indices_ranked_by="self_confidence")`; its top N
  (when it flags fewer than N, the rest count as misses), and the same probabilities ranked by
  self-confidence alone (all N filled).

Scale. SYNTHETIC: the paragraphs' vectors repeated with gaussian noise (sigma 0.02, re-normalised,
as bench/bench_map.py) up to --chunks, labelled by part, one document per chunk (rows of a CSV);
timed: the 2-D PCA map and `check_labels` with it (reading the store is bench_map's "read" step).

    .venv/bin/python bench/bench_labels.py [--model minilm] [--seeds 5] [--chunks 100000]
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import embed_cached, machine_line  # noqa: E402
from labelled_paragraphs import paragraphs  # noqa: E402
from core.config import DATA_DIR  # noqa: E402
from core.embedders import get_embedder, normalise  # noqa: E402
from core.labels import check_labels  # noqa: E402
from core.projection import ProjectionSettings, project  # noqa: E402

CACHE = DATA_DIR / "cache" / "bench-labels"
NOISE_SIGMA = 0.02


def flip(labels: np.ndarray, n_labels: int, rate: float, seed: int) -> tuple[np.ndarray, set[int]]:
    """`rate` of the labels moved to another label drawn uniformly, with a fixed seed."""
    rng = np.random.default_rng(seed)
    noisy = labels.copy()
    flipped = rng.choice(len(labels), int(round(rate * len(labels))), replace=False)
    for i in flipped:
        noisy[i] = rng.choice([c for c in range(n_labels) if c != labels[i]])
    return noisy, set(flipped.tolist())


def precision(ranking, flipped: set[int]) -> float:
    return len(set(list(ranking)[:len(flipped)]) & flipped) / len(flipped)


def ours(vectors: np.ndarray, names: list[str], noisy: np.ndarray) -> list[int]:
    report = check_labels(vectors, [names[c] for c in noisy], [f"{i:06d}" for i in range(len(noisy))])
    return [int(s.document) for s in report.suspects]


def cleanlab_recipe(vectors: np.ndarray, noisy: np.ndarray) -> tuple[list[int], list[int]]:
    """(find_label_issues' ranked issues, all rows ranked by self-confidence)."""
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    probabilities = cross_val_predict(LogisticRegression(max_iter=1000), vectors, noisy, cv=5, method="predict_proba")
    issues = find_label_issues(noisy, probabilities, return_indices_ranked_by="self_confidence")
    self_confidence = probabilities[np.arange(len(noisy)), noisy]
    return [int(i) for i in issues], [int(i) for i in np.argsort(self_confidence, kind="stable")]


def quality(vectors: np.ndarray, task: str, values: list[str], seeds: int, rate: float) -> None:
    names = sorted(set(values))
    labels = np.array([names.index(v) for v in values])
    rows = []
    for seed in range(seeds):
        noisy, flipped = flip(labels, len(names), rate, seed)
        started = time.perf_counter()
        mine = precision(ours(vectors, names, noisy), flipped)
        our_s = time.perf_counter() - started
        started = time.perf_counter()
        issues, ranked = cleanlab_recipe(vectors, noisy)
        their_s = time.perf_counter() - started
        rows.append((seed, len(flipped), mine, precision(issues, flipped), len(issues),
                     precision(ranked, flipped), our_s, their_s))
        print(f"  {task} seed {seed}: N {len(flipped)}, ours {mine:.3f}, cleanlab {rows[-1][3]:.3f} "
              f"({len(issues)} flagged), self-confidence {rows[-1][5]:.3f}", file=sys.stderr)
    print(f"\n{task}: {len(values):,} paragraphs, {len(names)} labels, {rate:.0%} flipped, {seeds} seeds\n")
    print("| seed | N | ours P@N | cleanlab find_label_issues P@N (flagged) | cleanlab self-confidence P@N "
          "| ours s | cleanlab s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for seed, n, mine, theirs, flagged, ranked, our_s, their_s in rows:
        print(f"| {seed} | {n} | {mine:.3f} | {theirs:.3f} ({flagged}) | {ranked:.3f} | {our_s:.1f} | {their_s:.1f} |")
    mean = np.array([r[2:] for r in rows], dtype=float).mean(axis=0)
    print(f"| **mean** | | **{mean[0]:.3f}** | **{mean[1]:.3f}** | {mean[3]:.3f} | {mean[4]:.1f} | {mean[5]:.1f} |")


def scale(base: np.ndarray, parts: list[str], chunks: int) -> None:
    rng = np.random.default_rng(0)
    rows = np.arange(chunks) % len(base)
    vectors = normalise(base[rows] + rng.normal(0, NOISE_SIGMA, (chunks, base.shape[1])).astype(np.float32))
    values = [parts[r] for r in rows]
    documents = [f"rows.csv#{i}" for i in range(chunks)]
    wall, cpu = time.perf_counter(), time.process_time()
    coords = project(vectors, ProjectionSettings(method="pca"), cache_dir=None).coords
    map_s = time.perf_counter() - wall
    timings: dict[str, float] = {}
    last = [time.perf_counter(), "preparing"]

    def lap(event) -> None:  # a progress event starts a step: the time since the last one is the last step's
        now = time.perf_counter()
        timings[last[1]] = timings.get(last[1], 0.0) + now - last[0]
        last[0], last[1] = now, event.stage

    report = check_labels(vectors, values, documents, coords, field="part", progress=lap)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"\nscale: {chunks:,} chunks (SYNTHETIC: {len(base):,} real paragraph vectors repeated with noise), "
          f"{len(report.labels)} labels, one document per chunk\n")
    print("| step | wall s |\n|---|---:|")
    print(f"| 2-D PCA map | {map_s:.1f} |")
    for stage, seconds in timings.items():
        print(f"| {stage} | {seconds:.1f} |")
    print(f"| **whole check** | **{wall:.1f}** (CPU {cpu:.1f}) |")
    print(f"\n{len(report.flagged):,} documents flagged, ARI {report.ari:.3f}, NMI {report.nmi:.3f}")
    print(f"labels_scale: chunks={chunks} whole_s={wall:.1f} target_s=60")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--chunks", type=int, default=100_000, help="scale run size (0: skip)")
    parser.add_argument("--tasks", default="source,part")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(machine_line())
    texts, books, parts = paragraphs()
    vectors = normalise(embed_cached(get_embedder(args.model), texts, CACHE))
    print(f"model: {args.model}; load average before: {Path('/proc/loadavg').read_text().split()[0]}")
    for task in args.tasks.split(","):
        if task:
            quality(vectors, task, {"source": books, "part": parts}[task], args.seeds, args.rate)
    if args.chunks:
        scale(vectors, parts, args.chunks)
    print(f"\nload average after: {Path('/proc/loadavg').read_text().split()[0]}")


if __name__ == "__main__":
    main()
