"""What every benchmark shares: the machine line, percentiles, vectors cached on disk, plain bm25s as its
README shows it, and interleaved timing of several methods."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"  # ../shared beside the repository
SCIFACT = SHARED / "eval" / "scifact"
LONG_DOCS = SHARED / "corpora" / "long_docs"


def long_doc_paths() -> list[Path]:
    """The long public-domain documents (not their licence files), in a fixed order."""
    return sorted(p for p in LONG_DOCS.glob("*.txt") if "LICENSE" not in p.name)


def scifact_queries() -> list[str]:
    """Every SciFact claim's text, in file order."""
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_line() -> str:
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 2**20:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"machine: {cpu_model()}, {platform.machine()}, {os.cpu_count()} cores{memory}; "
            f"Python {platform.python_version()}")


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000.0, q))


def embed_cached(embedder, texts: list[str], cache: Path) -> np.ndarray:
    """The texts' vectors, embedded once (with progress on stderr) and kept in `cache` for later runs."""
    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = cache / f"vectors-{embedder.name}-{key}.npy"
    if path.exists():
        return np.load(path)
    started, parts = time.perf_counter(), []
    for lo in range(0, len(texts), 512):
        parts.append(embedder.embed(texts[lo:lo + 512]))
        print(f"  embedded {lo + len(parts[-1]):,}/{len(texts):,} ({time.perf_counter() - started:.0f}s)",
              file=sys.stderr)
    vectors = np.concatenate(parts)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def plain_bm25s(texts: list[str], k: int) -> Callable[[str], object]:
    """bm25s as its README shows it: tokenize with stopwords and a stemmer, index, retrieve."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    return lambda q: retriever.retrieve(bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False),
                                        k=k, show_progress=False)


def measure(methods: dict[str, Callable[[int], object]], n_queries: int) -> dict[str, list[float]]:
    """Seconds per call of each method, interleaved query by query (rotating the order) after a warm-up."""
    for run in methods.values():  # warm-up: first calls load indexes and allocate
        for i in range(5):
            run(i)
    timings: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for i in range(n_queries):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            methods[name](i)
            timings[name].append(time.perf_counter() - started)
    return timings
