"""Importing a big vector file: `python -m core import` against plain chromadb on the same Parquet file.

File: SYNTHETIC. --rows rows of 384-d float32 vectors (MiniLM vectors of the long documents' paragraphs,
repeated with gaussian noise sigma 0.02, re-normalised), each with an id, its paragraph as text and its
book as category, written by pyarrow in row groups of 50,000 (data/cache/bench-import/, reused).

Each run is a separate process, timed from start to exit, with its peak resident memory (the kernel's
ru_maxrss for that process, from os.wait4):
- read only: stream the file through `core.vectorfiles.open_vector_file` and drop each batch, which
  shows what the reader itself holds (one batch of Python objects at a time);
- ours: `python -m core import FILE --collection big --text-field text --id-field id --category-field
  category` into a fresh Chroma folder (vectors, documents, metadata and our keyword index);
- plain chromadb: pyarrow batches (read as ours reads them, without pre-buffering) into
  `PersistentClient(...).create_collection(...).add(...)` into a fresh folder, with cosine space like
  ours, no keyword index.
A full in-memory load of the vectors alone would be rows x 384 x 4 bytes (1.5 GB at 1M); Chroma's HNSW
index itself keeps every vector in memory, so both import processes grow with the collection.

    .venv/bin/python bench/bench_import.py [--rows 1000000]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench_map import NOISE_SIGMA, STORE as MAP_STORE, real_paragraphs  # noqa: E402
from common import embed_cached, machine_line  # noqa: E402
from core.config import DATA_DIR  # noqa: E402
from core.embedders import get_embedder, normalise  # noqa: E402

CACHE = DATA_DIR / "cache" / "bench-import"
ROW_GROUP = 50_000
PYTHON = sys.executable

READ_ONLY = """
import sys
from core.vectorfiles import open_vector_file
rows = sum(len(batch.ids) for batch in open_vector_file(sys.argv[1]).batches)
print(f"read {rows:,} rows", file=sys.stderr)
"""

PLAIN_CHROMADB = """
import sys
import chromadb, numpy as np, pyarrow.parquet as pq
client = chromadb.PersistentClient(sys.argv[2])
collection = client.create_collection("big", configuration={"hnsw": {"space": "cosine"}})
step = client.get_max_batch_size()
done = 0
for batch in pq.ParquetFile(sys.argv[1], pre_buffer=False).iter_batches(batch_size=10_000):
    vectors = np.stack(batch.column("vector").to_numpy(zero_copy_only=False)).astype(np.float32)
    for lo in range(0, batch.num_rows, step):
        sl = slice(lo, lo + step)
        collection.add(ids=batch.column("id").to_pylist()[sl], embeddings=vectors[sl],
                       documents=batch.column("text").to_pylist()[sl],
                       metadatas=[{"category": c} for c in batch.column("category").to_pylist()[sl]])
    done += batch.num_rows
print(f"added {done:,} rows; count {collection.count():,}", file=sys.stderr)
"""


def vector_file(rows: int) -> Path:
    """The synthetic Parquet file of `rows` rows (written once, then reused)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = CACHE / f"vectors-{rows}.parquet"
    if path.exists():
        return path
    texts, books = real_paragraphs()
    base = embed_cached(get_embedder("minilm"), texts, MAP_STORE)  # the map bench's vectors of the same texts
    dim = base.shape[1]
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("category", pa.string()),
                        ("vector", pa.list_(pa.float32(), dim))])
    rng = np.random.default_rng(0)
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with pq.ParquetWriter(partial, schema) as writer:
        for lo in range(0, rows, ROW_GROUP):
            ns = np.arange(lo, min(lo + ROW_GROUP, rows))
            picked = ns % len(texts)
            vectors = normalise(base[picked] + rng.normal(0, NOISE_SIGMA, (len(ns), dim)).astype(np.float32))
            writer.write_table(pa.table({
                "id": [f"row-{n:07d}" for n in ns], "text": [texts[i] for i in picked],
                "category": [books[i] for i in picked],
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), dim)},
                schema=schema))
            print(f"  wrote {ns[-1] + 1:,}/{rows:,} rows", file=sys.stderr)
    partial.rename(path)
    return path


def run(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident GB and the last line the process printed."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, cwd=ROOT, stdout=err, stderr=err,
                                   env={**os.environ, "HF_HUB_OFFLINE": "1"})
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode(errors="replace").replace("\r", "\n").splitlines()
    if process.returncode:
        raise RuntimeError(f"{command[:4]} failed ({process.returncode}):\n" + "\n".join(lines[-20:]))
    return seconds, usage.ru_maxrss / 2**20, lines[-1] if lines else ""


def folder_gb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    path = vector_file(args.rows)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=DATA_DIR / "cache") as scratch:
        ours_dir, plain_dir = Path(scratch) / "ours", Path(scratch) / "plain"
        read = run([PYTHON, "-c", READ_ONLY, str(path)])
        ours = run([PYTHON, "-m", "core", "import", str(path), "--store", str(ours_dir), "--collection", "big",
                    "--text-field", "text", "--id-field", "id", "--category-field", "category"])
        ours_size = folder_gb(ours_dir)
        plain = run([PYTHON, "-c", PLAIN_CHROMADB, str(path), str(plain_dir)])
        plain_size = folder_gb(plain_dir)
    print(machine_line())
    print(f"file: SYNTHETIC {args.rows:,} x 384 float32 Parquet ({path.stat().st_size / 1e9:.2f} GB; vectors alone "
          f"{args.rows * 384 * 4 / 1e9:.2f} GB in memory), MiniLM vectors of real paragraphs + noise sigma "
          f"{NOISE_SIGMA}; load average (1 min) before {load:.1f}, after {os.getloadavg()[0]:.1f}")
    print("| process | wall s | rows/s | peak memory GB | store on disk GB | last line |")
    print("|---|---:|---:|---:|---:|---|")
    for label, (seconds, peak, line), size in (("read only (open_vector_file)", read, None),
                                               ("ours: python -m core import", ours, ours_size),
                                               ("plain chromadb add", plain, plain_size)):
        shown = f"{size:.2f}" if size is not None else ""
        print(f"| {label} | {seconds:.1f} | {args.rows / seconds:,.0f} | {peak:.2f} | {shown} | {line.strip()[:80]} |")
    print(f"import: rows={args.rows} ours_s={ours[0]:.1f} plain_s={plain[0]:.1f} ratio={ours[0] / plain[0]:.2f} "
          f"ours_peak_gb={ours[1]:.2f} read_peak_gb={read[1]:.2f}")


if __name__ == "__main__":
    main()
