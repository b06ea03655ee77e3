"""Neighbourhood preservation: exact answers on hand-made data, sensible ones on real vectors."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import ExplorerError
from core.projection import ProjectionSettings, project
from core.trust import neighbourhood_preservation
from map_fixtures import sample_points  # noqa: F401  (fixture)


def test_hand_computed_case():
    # 1-D data and a map that swaps one neighbourhood: only point 1 loses its nearest neighbour.
    data = np.array([[0.0], [1.0], [3.0], [10.0], [12.0]])
    coords = np.array([[0.0, 0], [5.0, 0], [6.0, 0], [20.0, 0], [21.0, 0]])
    trust = neighbourhood_preservation(data, coords, k=1, metric="euclidean")
    assert trust.per_point.tolist() == [1.0, 0.0, 1.0, 1.0, 1.0] and trust.mean == pytest.approx(0.8)


def test_flat_data_projected_by_pca_keeps_every_neighbourhood():
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(400, 2))
    basis = np.linalg.qr(rng.normal(size=(20, 20)))[0][:2]  # the plane placed at random in 20-D
    data = plane @ basis * 3.0 + 1.0
    pca = project(data, ProjectionSettings(metric="euclidean"), cache_dir=None)
    assert neighbourhood_preservation(data, pca.coords, metric="euclidean").mean == pytest.approx(1.0)
    shuffled = pca.coords[rng.permutation(len(data))]
    assert neighbourhood_preservation(data, shuffled, metric="euclidean").mean < 0.1


def test_real_vectors_tsne_keeps_more_neighbours_than_pca(sample_points):
    vectors = sample_points.chunks.embeddings
    pca = neighbourhood_preservation(vectors, project(vectors, ProjectionSettings(), cache_dir=None).coords)
    tsne = neighbourhood_preservation(
        vectors, project(vectors, ProjectionSettings(method="tsne"), cache_dir=None).coords)
    for trust in (pca, tsne):
        assert trust.per_point.shape == (len(vectors),) and trust.k == 10
        assert 0.0 <= trust.per_point.min() and trust.per_point.max() <= 1.0
        assert 0.0 < trust.mean < 1.0
    assert tsne.mean > pca.mean  # t-SNE is built to keep local neighbourhoods; PCA is not


def test_bad_input():
    with pytest.raises(ExplorerError, match="3 points"):
        neighbourhood_preservation(np.zeros((2, 4)), np.zeros((2, 2)))
    with pytest.raises(ExplorerError, match="positions"):
        neighbourhood_preservation(np.zeros((5, 4)), np.zeros((4, 2)))
