"""Points of the real sample store (MiniLM vectors of three sample excerpts), shared by the map tests."""
from __future__ import annotations

import pytest

from core.config import SAMPLE_COLLECTION
from core.projection import MapPoints, load_points
from core.workspace import open_workspace


@pytest.fixture(scope="session")
def sample_points(sample_store: str) -> MapPoints:
    return load_points(open_workspace(sample_store, SAMPLE_COLLECTION).collection)
