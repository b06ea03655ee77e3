"""core/similarity.py with the real MiniLM model."""
from __future__ import annotations

import numpy as np

from core.similarity import compare, cosine_matrix, ranked_pairs


def test_cosine_matrix_and_pairs_by_hand():
    vectors = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    matrix = cosine_matrix(vectors)
    np.testing.assert_allclose(matrix, [[1, 1, 0], [1, 1, 0], [0, 0, 1]], atol=1e-6)
    pairs = ranked_pairs(matrix)
    assert [(p.first, p.second) for p in pairs] == [(0, 1), (0, 2), (1, 2)]
    assert pairs[0].cosine > 0.999 and abs(pairs[-1].cosine) < 1e-6


def test_related_texts_rank_first(minilm):
    comparison = compare(minilm, ["Java virtual threads", "Java lightweight concurrency",
                                  "Python web scraping", "  ", "Java virtual threads"])
    assert comparison.texts == ("Java virtual threads", "Java lightweight concurrency", "Python web scraping")
    assert comparison.matrix.shape == (3, 3)
    np.testing.assert_allclose(np.diag(comparison.matrix), 1.0, atol=1e-5)
    np.testing.assert_allclose(comparison.matrix, comparison.matrix.T, atol=1e-6)
    best = comparison.pairs[0]
    assert (best.first, best.second) == (0, 1)
    assert best.cosine > comparison.pairs[-1].cosine + 0.1


def test_nothing_to_compare(minilm):
    assert compare(minilm, ["", "  "]).pairs == ()
