"""Projections on real MiniLM vectors of the sample excerpts: shapes, determinism, the disk cache,
query placement, and `python -m core project` as a user runs it."""
from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

import core.projection as projection_module
from conftest import ROOT
from core.config import SAMPLE_COLLECTION
from core.projection import ProjectionError, ProjectionSettings, load_points, place_queries, project
from core.workspace import open_workspace
from map_fixtures import sample_points  # noqa: F401  (fixture)


@pytest.mark.parametrize("method,dims", [("pca", 2), ("pca", 3), ("tsne", 2), ("tsne", 3), ("umap", 2)])
def test_projection_shape_and_determinism(sample_points, method, dims):
    vectors = sample_points.chunks.embeddings
    settings = ProjectionSettings(method=method, dims=dims, perplexity=10, n_neighbors=10, seed=7)
    first = project(vectors, settings, cache_dir=None)
    again = project(vectors, settings, cache_dir=None)
    assert first.coords.shape == (len(vectors), dims)
    assert np.isfinite(first.coords).all()
    np.testing.assert_allclose(first.coords, again.coords, rtol=1e-5, atol=1e-5)
    assert first.coords.std(axis=0).min() > 0  # a real spread, not a collapsed point


def test_second_call_reads_the_disk_cache(sample_points, tmp_path, monkeypatch):
    fits = []
    real_compute = projection_module._compute
    monkeypatch.setattr(projection_module, "_compute", lambda *a: fits.append(a[1]) or real_compute(*a))
    vectors = sample_points.chunks.embeddings
    settings = ProjectionSettings(method="tsne", perplexity=12)
    events = []
    first = project(vectors, settings, cache_dir=tmp_path, data_key=sample_points.fingerprint)
    second = project(vectors, settings, events.append, cache_dir=tmp_path, data_key=sample_points.fingerprint)
    assert len(fits) == 1 and [e.stage for e in events] == ["read from cache"]
    np.testing.assert_array_equal(first.coords, second.coords)
    # A slider the method does not use keeps the cache; one it uses does not.
    project(vectors, ProjectionSettings(method="tsne", perplexity=12, n_neighbors=40), cache_dir=tmp_path,
            data_key=sample_points.fingerprint)
    assert len(fits) == 1
    project(vectors, ProjectionSettings(method="tsne", perplexity=20), cache_dir=tmp_path,
            data_key=sample_points.fingerprint)
    assert len(fits) == 2
    # Different vectors, same settings: a new entry (the key hashes the data).
    project(vectors[:50], settings, cache_dir=tmp_path)
    assert len(fits) == 3 and len(list(tmp_path.glob("*.npz"))) == 3


def test_progress_reports_stages(sample_points):
    events = []
    project(sample_points.chunks.embeddings, ProjectionSettings(), events.append, cache_dir=None)
    assert [e.done for e in events] == [0, 1, 3] and events[-1].done == events[-1].total


def test_small_collections_clamp_or_refuse(sample_points):
    ten = sample_points.chunks.embeddings[:10]
    tsne = project(ten, ProjectionSettings(method="tsne", perplexity=30), cache_dir=None)
    assert tsne.settings.perplexity == pytest.approx(3.0) and tsne.coords.shape == (10, 2)
    with pytest.raises(ProjectionError, match="at least 5 chunks"):
        project(ten[:4], ProjectionSettings(dims=3), cache_dir=None)
    with pytest.raises(ProjectionError, match="2 or 3"):
        project(ten, ProjectionSettings(dims=4), cache_dir=None)


def test_pca_places_a_query_exactly(sample_points):
    vectors = sample_points.chunks.embeddings
    pca = project(vectors, ProjectionSettings(), cache_dir=None)
    np.testing.assert_allclose(place_queries(vectors[:5], vectors, pca), pca.coords[:5], atol=1e-4)


def test_tsne_places_a_query_among_its_neighbours(sample_points, minilm):
    vectors = sample_points.chunks.embeddings
    tsne = project(vectors, ProjectionSettings(method="tsne"), cache_dir=None)
    query = minilm.embed(["Elizabeth Bennet and Mr. Darcy at the ball"])
    position = place_queries(query, vectors, tsne, k=5)[0]
    nearest = np.argsort(-(vectors @ query[0]))[:5]
    low, high = tsne.coords[nearest].min(axis=0), tsne.coords[nearest].max(axis=0)
    assert ((low <= position) & (position <= high)).all()  # a weighted mean lies in their bounding box
    categories = {sample_points.chunks.metadatas[i]["category"] for i in nearest}
    assert categories == {"novel"} or len(categories) == 1


def test_load_points_samples_with_a_seed(sample_store, sample_points):
    collection = open_workspace(sample_store, SAMPLE_COLLECTION).collection
    sample = load_points(collection, cap=40, seed=3)
    assert len(sample.chunks.ids) == 40 and sample.sampled and sample.total == len(sample_points.chunks.ids)
    assert load_points(collection, cap=40, seed=3).chunks.ids == sample.chunks.ids
    assert set(sample.chunks.ids) <= set(sample_points.chunks.ids)
    row = sample_points.chunks.ids.index(sample.chunks.ids[0])
    np.testing.assert_array_equal(sample.chunks.embeddings[0], sample_points.chunks.embeddings[row])
    assert not sample_points.sampled


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "core", "project", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_project_writes_one_row_per_chunk(sample_store, sample_points, tmp_path):
    out = tmp_path / "map.csv"
    proc = cli("--store", sample_store, "--collection", SAMPLE_COLLECTION, "--method", "tsne", "--dims", "3",
               "--perplexity", "10", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == ["id", "x", "y", "z", "category", "source"]
    assert [r["id"] for r in rows] == sample_points.chunks.ids
    assert {r["category"] for r in rows} == {m["category"] for m in sample_points.chunks.metadatas}
    assert all(np.isfinite(float(r["z"])) for r in rows)
    assert f"wrote {len(rows)} points" in proc.stdout


def test_cli_project_errors_are_one_clear_line(sample_store, tmp_path):
    proc = cli("--store", sample_store, "--collection", "no-such-collection", "--method", "pca",
               "--out", str(tmp_path / "x.csv"))
    assert proc.returncode == 1 and proc.stderr.startswith("error:") and "no-such-collection" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.csv").exists()


def test_an_empty_collection_is_a_clear_error(store_dir, minilm):
    from core.stores import open_store

    empty = open_store(str(store_dir)).open_collection("empty", minilm.info)
    with pytest.raises(ProjectionError, match="'empty' is empty"):
        load_points(empty)
