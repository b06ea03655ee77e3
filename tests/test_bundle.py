"""Session bundles: a map written out and read back is the same map; foreign files are refused clearly."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.bundle import BundleError, BundleQuery, from_json, map_bundle, to_json
from core.projection import ProjectionSettings, project
from core.types import EmbedderInfo
from map_fixtures import sample_points  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def bundle(sample_points):
    coords = project(sample_points.chunks.embeddings, ProjectionSettings(method="pca", dims=3), cache_dir=None)
    query = BundleQuery("Who is Mr. Darcy?", "vector", 3, (0.1, -0.2, 0.3), tuple(sample_points.chunks.ids[:3]))
    return map_bundle("samples", EmbedderInfo("minilm", 384), sample_points, coords, (query,))


def test_round_trip_restores_the_view(bundle):
    back = from_json(to_json(bundle))
    assert back.ids == bundle.ids and back.projection == bundle.projection
    np.testing.assert_allclose(back.coords, bundle.coords, atol=1e-5)
    assert back.sources == bundle.sources and back.categories == bundle.categories and back.texts == bundle.texts
    assert back.queries == bundle.queries and back.embedder == bundle.embedder and back.total == bundle.total
    assert back.chunking == ("recursive-200-0-tokens",) and back.created
    assert all(len(t) <= 200 for t in back.texts)


def test_bad_and_foreign_files_are_refused(bundle):
    good = json.loads(to_json(bundle))
    with pytest.raises(BundleError, match="not JSON"):
        from_json(b"\x89PNG not json")
    with pytest.raises(BundleError, match="not an Embedding Explorer session bundle"):
        from_json(json.dumps({"hello": "world"}))
    with pytest.raises(BundleError, match="newer"):
        from_json(json.dumps({**good, "version": 99}))
    damaged = {**good, "points": {**good["points"], "coords": good["points"]["coords"][:-1]}}
    with pytest.raises(BundleError, match="damaged"):
        from_json(json.dumps(damaged))
    with pytest.raises(BundleError, match="damaged"):
        from_json(json.dumps({**good, "queries": [{"text": "q"}]}))
