"""Comparing two embedders on a real collection: the sample excerpts embedded by MiniLM (stored)
against the offline bag-of-words model, plus the alignment and overlap maths on known cases."""
from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.stats import ortho_group

from core.compare import aligned_maps, compare_embedders, jaccard_at, label_separation
from core.embedders import EMBEDDERS, get_embedder
from core.errors import ExplorerError
from core.stores import open_store
from label_fixtures import labelled_store  # noqa: F401  (fixture)
from map_fixtures import sample_points  # noqa: F401  (fixture)


def test_bow_hash_is_deterministic_offline_and_counts_shared_words():
    model = get_embedder("bow-hash")
    assert EMBEDDERS["bow-hash"].available and model.info.dimension == 384
    texts = ["Elizabeth danced with Mr. Darcy at the Netherfield ball",
             "Mr. Darcy would not dance with Elizabeth at the ball",
             "A list item can begin with at most one blank line"]
    vectors = model.embed(texts)
    again = get_embedder("bow-hash").embed(texts)  # a fresh instance: same fixed projection
    np.testing.assert_array_equal(vectors, again)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.4 > 0.1 > abs(similarity[0, 2])
    assert model.count_tokens(["one two  three", ""]) == [3, 0]


def test_a_rotated_copy_aligns_exactly_and_keeps_every_neighbour():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(60, 16)) * np.linspace(4, 1, 16)  # distinct variances: a stable PCA
    b = a @ ortho_group.rvs(16, random_state=3)
    a_xy, b_xy, disparity = aligned_maps(a, b)
    assert disparity == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(a_xy, b_xy, atol=1e-6)
    np.testing.assert_allclose(jaccard_at(a, b, 5), 1.0)
    unrelated = jaccard_at(a, rng.normal(size=(60, 16)), 5)
    assert unrelated.mean() < 0.3


def test_minilm_against_bag_of_words_on_the_sample_collection(sample_store, tmp_path):
    collection = open_store(sample_store).open_collection("samples", get_embedder("minilm").info, create=False)
    bow = get_embedder("bow-hash")
    events = []
    comparison = compare_embedders(collection, bow, tmp_path, k=5, progress=events.append)
    n = collection.count()
    assert (comparison.model_a, comparison.model_b) == ("minilm", "bow-hash")
    assert len(comparison.ids) == n == comparison.total_chunks and not comparison.capped
    assert comparison.a_xy.shape == comparison.b_xy.shape == (n, 2)
    assert ((comparison.jaccard >= 0) & (comparison.jaccard <= 1)).all()
    # Two different models agree far more than chance (same texts, same topics) and far from fully.
    assert 3 * comparison.chance_jaccard < comparison.overall_jaccard < 0.9
    assert any(e.stage.startswith("embedding with bow-hash") for e in events)
    assert len(list(tmp_path.glob("bow-hash-*.npy"))) == 1

    started = time.perf_counter()
    capped = compare_embedders(collection, bow, tmp_path, k=5, max_chunks=40)
    assert capped.capped and len(capped.ids) == 40 and capped.total_chunks == n
    again = compare_embedders(collection, bow, tmp_path, k=5)  # embeddings from the disk cache
    assert time.perf_counter() - started < 10
    np.testing.assert_array_equal(again.jaccard, comparison.jaccard)

    with pytest.raises(ExplorerError, match="different model"):
        compare_embedders(collection, get_embedder("minilm"), tmp_path)


def test_label_separation_under_both_models(labelled_store, tmp_path):
    collection = open_store(labelled_store.store).open_collection(labelled_store.noisy, get_embedder("minilm").info,
                                                                  create=False)
    minilm, bow = label_separation(collection, get_embedder("bow-hash"), tmp_path)
    assert minilm.labels == bow.labels and len(minilm.labels) == 3
    assert [s.chunks for s in minilm.stats] == [s.chunks for s in bow.stats]
    assert set(labelled_store.flipped) <= {s.document for s in minilm.flagged}
    # MiniLM keeps each label's neighbours together better than a bag of hashed words.
    assert np.mean([s.agreement for s in minilm.stats]) > np.mean([s.agreement for s in bow.stats])
