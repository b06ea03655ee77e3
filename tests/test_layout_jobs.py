"""The preferred layout in the background: PCA at once (or from a page's job), the real UMAP computed by a real
child process whose progress any caller can read, then read from the cache; one job per data and settings; a write
makes a new key."""
from __future__ import annotations

import os
import signal
import time

import numpy as np

from core.layout_jobs import current_layout, job_status, start_layout, wait_for_layout
from core.projection import ProjectionSettings, cached_points, project
from core.stores import open_store
from core.types import Chunk
from map_fixtures import sample_points  # noqa: F401  (fixture)

UMAP = ProjectionSettings(n_neighbors=10)


def test_pca_at_once_then_umap_from_a_background_job(sample_points, tmp_path):
    vectors, key = sample_points.chunks.embeddings, sample_points.fingerprint
    first = current_layout(vectors, UMAP, data_key=key, cache_dir=tmp_path)
    assert not first.final and first.projection.settings.method == "pca" and first.wanted.method == "umap"
    assert first.status.state == "running" and first.status.pid
    # Another session (or process) asking meanwhile sees the same job, and starts none.
    again = current_layout(vectors, UMAP, data_key=key, cache_dir=tmp_path)
    assert again.status.pid == first.status.pid
    seen = set()
    while (status := job_status(len(vectors), UMAP, data_key=key, cache_dir=tmp_path)).state == "running":
        seen.add(status.stage)
        assert 0.0 <= status.fraction <= 1.0 and "Computing the UMAP map in the background" in status.describe()
        time.sleep(0.2)
    assert status.state == "done", status
    assert any(stage.startswith(("starting", "preparing vectors", "fitting UMAP")) for stage in seen), seen
    done = current_layout(vectors, UMAP, data_key=key, cache_dir=tmp_path)
    assert done.final and done.projection.settings.method == "umap"
    asked: list[ProjectionSettings] = []  # a page's PCA job: none is asked for when the wanted layout is cached
    assert current_layout(vectors, UMAP, data_key=key, cache_dir=tmp_path, pca=asked.append).final and not asked
    # The job computed what computing here computes (UMAP is seeded), and left no input file or log behind.
    np.testing.assert_allclose(done.projection.coords, project(vectors, UMAP, cache_dir=None).coords, atol=1e-4)
    assert not list(tmp_path.glob("*.input.npy")) and not list(tmp_path.glob("*.log"))


def test_a_job_whose_process_dies_is_failed_keeps_pca_and_restarts_only_on_retry(sample_points, tmp_path):
    vectors, key = sample_points.chunks.embeddings, sample_points.fingerprint
    started = start_layout(vectors, UMAP, data_key=key, cache_dir=tmp_path)
    os.kill(started.pid, signal.SIGKILL)
    while (status := job_status(len(vectors), UMAP, data_key=key, cache_dir=tmp_path)).state == "running":
        time.sleep(0.1)
    assert status.state == "failed" and "process ended" in status.describe()
    layout = current_layout(vectors, UMAP, data_key=key, cache_dir=tmp_path)
    assert not layout.final and layout.projection.settings.method == "pca" and layout.status.state == "failed"
    assert start_layout(vectors, UMAP, data_key=key, cache_dir=tmp_path).pid == started.pid  # not restarted
    retried = start_layout(vectors, UMAP, data_key=key, cache_dir=tmp_path, retry=True)
    assert retried.pid != started.pid
    assert wait_for_layout(vectors, UMAP, data_key=key, cache_dir=tmp_path, timeout=600).final


def test_a_write_to_the_collection_gives_a_new_layout_key(sample_points, store_dir, minilm, tmp_path):
    collection = open_store(str(store_dir)).open_collection("layout", minilm.info)
    chunks = sample_points.chunks

    def write(rows: range) -> None:
        collection.upsert([Chunk(id=chunks.ids[r], text=chunks.texts[r], source=f"doc{r}", start=0,
                                 end=len(chunks.texts[r]), index=0, metadata={"source": f"doc{r}"}) for r in rows],
                          chunks.embeddings[list(rows)])

    write(range(40))
    before = cached_points(collection, str(store_dir), cache_dir=tmp_path / "points")
    pca = ProjectionSettings(method="pca")
    assert current_layout(before.chunks.embeddings, pca, data_key=before.fingerprint, cache_dir=tmp_path).final
    write(range(40, 41))
    after = cached_points(collection, str(store_dir), cache_dir=tmp_path / "points")
    assert len(after.chunks.ids) == 41 and after.fingerprint != before.fingerprint
    assert job_status(41, UMAP, data_key=after.fingerprint, cache_dir=tmp_path).state == "absent"
    assert len(list(tmp_path.glob("*.npz"))) == 1
    current_layout(after.chunks.embeddings, pca, data_key=after.fingerprint, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2  # a new entry for the new version's points


def test_too_few_points_for_umap_get_pca_and_an_unwritable_cache_keeps_pca(sample_points, tmp_path):
    vectors, key = sample_points.chunks.embeddings, sample_points.fingerprint
    tiny = current_layout(vectors[:6], UMAP, data_key="six", cache_dir=tmp_path)
    assert tiny.final and tiny.projection.settings.method == "pca" and tiny.status.state == "done"
    asked: list[ProjectionSettings] = []  # a page's PCA job, still running: nothing to draw yet
    assert current_layout(vectors[:6], UMAP, data_key="six", cache_dir=tmp_path, pca=asked.append) is None
    assert [s.method for s in asked] == ["pca"]
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    status = start_layout(vectors, UMAP, data_key=key, cache_dir=blocked / "maps")
    assert status.state == "failed" and "cannot start it in" in status.describe()
