"""Projections on real MiniLM vectors of the sample excerpts: shapes, determinism, the disk cache,
query placement, and `python -m core project` as a user runs it."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import core.projection as projection_module
from conftest import ROOT
from core.config import SAMPLE_COLLECTION
from core.embedders import normalise
from core.projection import (UMAP_MIN_POINTS, ProjectionError, ProjectionSettings, load_points, place_queries,
                             preferred_method, project)
from core.trust import nearest_others, neighbourhood_preservation
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
    project(sample_points.chunks.embeddings, ProjectionSettings(method="pca"), events.append, cache_dir=None)
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
    pca = project(vectors, ProjectionSettings(method="pca"), cache_dir=None)
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


def test_umap_is_the_default_wherever_it_can_run():
    assert ProjectionSettings().method == "umap"
    assert preferred_method(1_000) == "umap"
    assert preferred_method(UMAP_MIN_POINTS - 1) == "pca"  # too few points for neighbourhoods


def copies(vectors: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n noisy copies of real vectors (as bench/bench_map.py makes its collections) and each one's original row."""
    origin = np.arange(n) % len(vectors)
    noise = np.random.default_rng(seed).normal(0.0, 0.02, (n, vectors.shape[1])).astype(np.float32)
    return normalise(vectors[origin] + noise), origin


def test_above_the_fit_sample_umap_fits_a_sample_and_places_the_rest(sample_points, monkeypatch):
    monkeypatch.setattr(projection_module, "FIT_SAMPLE", 1_000)
    vectors, origin = copies(sample_points.chunks.embeddings, 8_000)
    categories = np.array([m["category"] for m in sample_points.chunks.metadatas])[origin]
    events = []
    result = project(vectors, ProjectionSettings(), events.append, cache_dir=None)
    assert result.settings.fit_sample == 1_000 and "fit=1000" in result.settings.key()
    assert "fitted on 1,000 sampled points" in result.settings.describe()
    assert result.coords.shape == (8_000, 2) and np.isfinite(result.coords).all()
    stages = [e.stage for e in events]
    assert stages[-1] == "done" and any(s.startswith("placing the other 7,000 points") for s in stages)
    # The placed points land among their own kind: 10 nearest map neighbours in the same category, as the
    # fitted ones are (a placement that ignored the full space would mix the three documents).
    rows = np.random.default_rng(1).choice(8_000, 1_000, replace=False)
    nearest = nearest_others(result.coords, 10, np.sort(rows))
    agreement = (categories[nearest] == categories[np.sort(rows), None]).mean()
    assert agreement > 0.9
    pca = project(vectors, ProjectionSettings(method="pca"), cache_dir=None)
    assert neighbourhood_preservation(vectors, result.coords).mean > neighbourhood_preservation(vectors, pca.coords).mean


def test_cli_project_without_method_uses_the_default(sample_store, sample_points, tmp_path):
    out, labels = tmp_path / "map.csv", tmp_path / "labels.json"
    proc = cli("--store", sample_store, "--collection", SAMPLE_COLLECTION, "--out", str(out),
               "--labels-out", str(labels))
    assert proc.returncode == 0, proc.stderr
    assert "UMAP 2-D" in proc.stdout
    assert len(list(csv.DictReader(out.open(encoding="utf-8")))) == len(sample_points.chunks.ids)
    written = json.loads(labels.read_text(encoding="utf-8"))
    assert written and set(written[0]) == {"x", "y", "text", "size", "level"}
    assert f"wrote {len(written)} labels" in proc.stdout
    bad = cli("--store", sample_store, "--collection", SAMPLE_COLLECTION, "--out", str(out),
              "--labels-out", str(tmp_path / "labels.txt"))
    assert bad.returncode == 1 and bad.stderr.startswith("error:") and ".csv or .json" in bad.stderr
