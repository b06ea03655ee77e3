"""Points of the real sample store (MiniLM vectors of three sample excerpts), shared by the map tests;
and the synthetic big collections of the map's browser test and benches (`write_noisy_copies`)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from core.embedders import normalise
from core.stores.base import Collection
from core.types import Chunk, Metadata

from core.config import SAMPLE_COLLECTION
from core.embedders import get_embedder
from core.projection import MapPoints, load_points
from core.samples import ensure_samples
from core.stores import open_store
from core.workspace import open_workspace

ROOT = Path(__file__).resolve().parent.parent
BIG_POINTS = 100_000  # the map's browser test at scale
BIG_COLLECTION = "big"
BIG_BUILD_TIMEOUT_S = 1200


def write_noisy_copies(collection: Collection, texts: Sequence[str], metadatas: Sequence[Metadata],
                       vectors: np.ndarray, size: int, sigma: float = 0.02, batch: int = 50_000) -> None:
    """`size` points into `collection`: point n is copy n // len(texts) of base row n % len(texts), its
    vector with gaussian noise (`sigma` per dimension, re-normalised) so no two points coincide, its
    source that of the base row with "-copyK" added. Written as a big import is (`bulk_write`: batches of
    precomputed vectors, the keyword index built once at the end); progress on stderr."""
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    with collection.bulk_write(size):
        for lo in range(0, size, batch):
            ns = np.arange(lo, min(lo + batch, size))
            rows = ns % len(texts)
            noisy = normalise(vectors[rows] + rng.normal(0, sigma, (len(ns), vectors.shape[1])).astype(np.float32))
            chunks = []
            for n, r in zip(ns, rows):
                source = f"{metadatas[r]['source']}-copy{n // len(texts)}"
                chunks.append(Chunk(id=f"m{n:07d}", text=texts[r], source=source, start=0, end=len(texts[r]),
                                    index=int(n), metadata={"source": source, "category": metadatas[r]["category"]}))
            collection.upsert(chunks, noisy)
            print(f"  wrote {ns[-1] + 1:,}/{size:,} ({time.perf_counter() - started:.0f}s)", file=sys.stderr, flush=True)
        print(f"  building the keyword index ({time.perf_counter() - started:.0f}s)", file=sys.stderr, flush=True)
    print(f"  built {size:,} points in {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)


def build_big_store(folder: Path, size: int) -> None:
    """A Chroma folder `folder`/store whose collection BIG_COLLECTION holds `size` points: the sample collection's
    2,411 chunks (made in `folder`/samples as `ensure_samples` makes them), each about size / 2,411 times with
    noise (`write_noisy_copies`)."""
    samples_folder = str(folder / "samples")
    ensure_samples(open_store(samples_folder), get_embedder("minilm"))
    samples = open_workspace(samples_folder, SAMPLE_COLLECTION).collection
    base = samples.get(include_embeddings=True)
    collection = open_store(str(folder / "store")).open_collection(BIG_COLLECTION, samples.embedder)
    write_noisy_copies(collection, base.texts, base.metadatas, base.embeddings, size)


@dataclass
class BigStoreBuild:
    """`build_big_store` in a process of its own, started when the session's tests are collected (tests/conftest.py):
    two minutes of Chroma inserts that run on the second core beside the tests before the one that needs them."""

    folder: Path
    process: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, size: int = BIG_POINTS) -> BigStoreBuild:
        folder = Path(tempfile.mkdtemp(prefix="explorer-big-store-"))
        log = folder / "build.log"
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, str(Path(__file__)), str(folder), str(size)], cwd=ROOT,
                                       env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=out,
                                       stderr=subprocess.STDOUT)
        return cls(folder, process, log)

    def wait(self) -> str:
        """The built store's folder, once the build has finished; fails the test with the build's log if it failed."""
        try:
            code = self.process.wait(timeout=BIG_BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"building the {BIG_POINTS:,}-point store took over {BIG_BUILD_TIMEOUT_S} s:\n"
                        f"{self.log.read_text()[-3000:]}")
        if code != 0:
            pytest.fail(f"building the {BIG_POINTS:,}-point store failed ({code}):\n{self.log.read_text()[-3000:]}")
        return str(self.folder / "store")

    def remove(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def sample_points(sample_store: str) -> MapPoints:
    return load_points(open_workspace(sample_store, SAMPLE_COLLECTION).collection)


def map_data(at) -> dict:
    """What the 2-D map component received in an AppTest run (small JSON; the points are a file)."""
    import json

    components = at.get("bidi_component")
    assert len(components) == 1
    return json.loads(components[0].proto.json)


def map_points(data: dict):
    """The binary points file the component fetches, read from the static folder it is served from:
    x, y (float32), row (uint32), category (uint16, an index into data["categories"])."""
    import numpy as np

    from conftest import ROOT

    n = data["points"]["n"]
    raw = (ROOT / "static" / "map-data" / data["points"]["key"]).read_bytes()
    assert len(raw) == 15 * n
    return {"x": np.frombuffer(raw, "<f4", n, 0), "y": np.frombuffer(raw, "<f4", n, 4 * n),
            "row": np.frombuffer(raw, "<u4", n, 8 * n), "category": np.frombuffer(raw, "<u2", n, 12 * n)}


def hover_previews(data: dict, timeout_s: float = 30.0) -> list[str]:
    """Every hover preview of the map (the files are written in the background: waits for them)."""
    import json
    import time
    from pathlib import Path

    from conftest import ROOT

    previews: list[str] = []
    number = 0
    deadline = time.monotonic() + timeout_s
    while len(previews) < data["points"]["n"]:
        path = ROOT / "static" / Path(f"{data['hover']['prefix']}{number}.json").relative_to("/app/static")
        if not path.exists():
            assert time.monotonic() < deadline, f"{path} was not written"
            time.sleep(0.1)
            continue
        previews += json.loads(path.read_text())
        number += 1
    return previews


def points_by_category(at) -> dict[str, int]:
    """Points drawn per legend entry (category, when colouring by category)."""
    return {c["name"]: c["count"] for c in map_data(at)["categories"] if c["count"]}


if __name__ == "__main__":  # BigStoreBuild.start
    build_big_store(Path(sys.argv[1]), int(sys.argv[2]))
