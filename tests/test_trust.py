"""Neighbourhood preservation: exact answers on hand-made data, sensible ones on real vectors."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import ExplorerError
from core.projection import ProjectionSettings, project
from core.trust import (Trust, agreement_words, category_agreement, nearest_others, neighbourhood_preservation,
                        suggestion)
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
    pca = project(data, ProjectionSettings(method="pca", metric="euclidean"), cache_dir=None)
    assert neighbourhood_preservation(data, pca.coords, metric="euclidean").mean == pytest.approx(1.0)
    shuffled = pca.coords[rng.permutation(len(data))]
    assert neighbourhood_preservation(data, shuffled, metric="euclidean").mean < 0.1


def test_real_vectors_tsne_keeps_more_neighbours_than_pca(sample_points):
    vectors = sample_points.chunks.embeddings
    pca_map = project(vectors, ProjectionSettings(method="pca"), cache_dir=None)
    pca = neighbourhood_preservation(vectors, pca_map.coords)
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


def test_the_figure_is_the_share_of_true_neighbours_kept_counted_by_hand(sample_points):
    """The page's figure, recounted with plain sets over every point. A PCA map keeps few of each chunk's exact
    10 true neighbours while most of its map neighbours share the chunk's category (on all 2,411 sample chunks:
    0.04 against 0.94, README): both right, the first asks for the exact 10 of thousands."""
    from sklearn.neighbors import NearestNeighbors

    vectors = sample_points.chunks.embeddings
    coords = project(vectors, ProjectionSettings(method="pca"), cache_dir=None).coords
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    true = NearestNeighbors(n_neighbors=10).fit(unit).kneighbors(return_distance=False)
    drawn = NearestNeighbors(n_neighbors=10).fit(coords).kneighbors(return_distance=False)
    by_hand = [len(set(a) & set(b)) / 10 for a, b in zip(true, drawn)]
    measured = neighbourhood_preservation(vectors, coords, sample=None)
    np.testing.assert_allclose(measured.per_point, by_hand)
    sampled = neighbourhood_preservation(vectors, coords, sample=len(vectors) // 2)
    assert sampled.measured == len(vectors) // 2
    np.testing.assert_allclose(sampled.per_point[~np.isnan(sampled.per_point)],
                               np.array(by_hand)[~np.isnan(sampled.per_point)])
    categories = [m["category"] for m in sample_points.chunks.metadatas]
    assert category_agreement(coords, categories) > measured.mean + 0.3


def test_the_figure_in_words():
    trust = Trust(np.array([0.2, 0.4, np.nan, 0.3]), 10)
    assert trust.headline() == "3.0 of 10"
    words = trust.explanation()
    assert words.startswith("Of the 10 chunks the model finds closest to a chunk, on average 3.0 are also among "
                            "the 10 drawn closest to it on this map (measured on 3 random chunks)")
    assert "a random layout would keep 10" in words  # 4 points: every other point is among the 10 nearest
    assert "rough guide" in words
    assert "a good guide" in Trust(np.full(50, 0.7), 10).explanation()
    assert "often not close" in Trust(np.full(50, 0.1), 10).explanation()
    assert agreement_words(0.94) == "The 10 chunks drawn closest to a chunk share its category 94% of the time."


def test_a_poor_figure_suggests_the_neighbourhood_keeping_method():
    poor, rough, good = Trust(np.full(20, 0.05), 10), Trust(np.full(20, 0.4), 10), Trust(np.full(20, 0.7), 10)
    assert suggestion(good, "pca") is None and suggestion(rough, "umap") is None
    assert "Choose UMAP" in suggestion(poor, "pca") and "Choose UMAP" in suggestion(rough, "pca")
    assert "replaces this one when ready" in suggestion(poor, "pca", computing="umap")
    assert "similar kind" in suggestion(poor, "umap") and "Choose UMAP" not in suggestion(poor, "umap")


def test_category_agreement_hand_case():
    coords = np.array([[0.0, 0], [0.1, 0], [0.2, 0], [5.0, 0], [5.1, 0], [5.2, 0]])
    assert category_agreement(coords, ["a", "a", "a", "b", "b", "b"], k=2) == 1.0
    assert category_agreement(coords, ["a", "b", "a", "b", "a", "b"], k=1) == pytest.approx(0.0)
    assert category_agreement(coords, ["a"] * 6) is None  # one category says nothing
    np.testing.assert_array_equal(nearest_others(coords, 1, np.array([0, 5])), [[1], [4]])
