"""Points of the real sample store (MiniLM vectors of three sample excerpts), shared by the map tests;
and the synthetic big collections of the map's browser test and benches (`write_noisy_copies`)."""
from __future__ import annotations

import sys
import time
from typing import Sequence

import numpy as np
import pytest

from core.embedders import normalise
from core.stores.base import Collection
from core.types import Chunk, Metadata

from core.config import SAMPLE_COLLECTION
from core.projection import MapPoints, load_points
from core.workspace import open_workspace


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
