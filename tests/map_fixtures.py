"""Points of the real sample store (MiniLM vectors of three sample excerpts), shared by the map tests."""
from __future__ import annotations

import pytest

from core.config import SAMPLE_COLLECTION
from core.projection import MapPoints, load_points
from core.workspace import open_workspace


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
