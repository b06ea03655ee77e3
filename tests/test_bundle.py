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
    assert list(back.ids) == list(bundle.ids) and back.projection == bundle.projection
    np.testing.assert_allclose(back.coords, bundle.coords, atol=1e-5)
    for name in ("sources", "categories", "texts"):
        assert list(getattr(back, name)) == list(getattr(bundle, name))
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


def test_a_shared_app_exports_sources_as_it_shows_them_never_server_paths(tmp_path):
    """The map's CSV, its selection CSV and a session bundle named each point's source by its full path on the
    server; in shared mode they carry the name the app shows (relative to the folder the files share)."""
    from core.embedders import get_embedder
    from core.map_explore import frame_csv, map_frame, selection_frame
    from core.pipeline import ingest, local_files
    from core.projection import load_points
    from core.sharing import load_policy
    from core.stores import open_store
    from core.types import ChunkSettings

    folder = tmp_path / "server" / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("Tides rise twice a day along the northern harbour wall.\n\n"
                                  "Fishing boats wait for the flood before they leave.")
    (folder / "sub" / "b.md").write_text("The lighthouse keeper writes the weather into his log.\n\n"
                                         "Storms in winter break the lamp's glass twice a year.")
    embedder = get_embedder("bow-hash")
    collection = open_store(str(tmp_path / "store")).open_collection("docs", embedder.info)
    ingest(local_files([folder]), collection, embedder, ChunkSettings(method="paragraph", size=10, overlap=0,
                                                                      unit="words"))
    points = load_points(collection)
    coords = project(points.chunks.embeddings, ProjectionSettings(method="pca", dims=2), cache_dir=None)
    for policy, names in ((load_policy({}, {"explorer": {"mode": "shared"}}), {"a.txt", "sub/b.md"}),
                          (load_policy({}, {}), {str(folder.resolve() / "a.txt"), str(folder.resolve() / "sub/b.md")})):
        view = map_bundle("docs", embedder.info, points, coords, full_paths=policy.shows_server_paths)
        assert set(view.sources) == names and set(from_json(to_json(view)).sources) == names
        exports = [to_json(view), frame_csv(map_frame(view, points.chunks.texts)),
                   frame_csv(selection_frame(points, [0, 1], full_paths=policy.shows_server_paths))]
        server = str(tmp_path.resolve()).encode()
        assert all((server in export) == policy.shows_server_paths for export in exports)
