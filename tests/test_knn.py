"""k nearest neighbours: the exact search against plain numpy, the inverted file's recall against the exact one."""
from __future__ import annotations

import numpy as np

from core.embedders import normalise
from core.knn import nearest_neighbours
from map_fixtures import sample_points  # noqa: F401  (fixture)


def test_exact_search_matches_a_full_sort(sample_points):
    vectors = normalise(sample_points.chunks.embeddings)
    found = nearest_neighbours(vectors, 5)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    expected = np.argsort(-similarity, axis=1, kind="stable")[:, :5]
    assert (found.index == expected).mean() > 0.99  # ties may order differently
    np.testing.assert_allclose(found.similarity, np.take_along_axis(similarity, expected, axis=1), atol=1e-5)
    assert not (found.index == np.arange(len(vectors))[:, None]).any()


def test_the_inverted_file_finds_most_true_neighbours():
    """Clustered data like embeddings (a few hundred topics with spread), searched with the inverted file."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(200, 64))
    points = normalise((centres[rng.integers(0, 200, 6000)] + rng.normal(0, 0.6, (6000, 64))).astype(np.float32))
    exact = nearest_neighbours(points, 10)
    approximate = nearest_neighbours(points, 10, exact_below=1000)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact.index, approximate.index)])
    assert recall > 0.9
    assert not (approximate.index == np.arange(len(points))[:, None]).any()
