"""Clusters of real MiniLM vectors recover the sample categories and get sensible c-TF-IDF names."""
from __future__ import annotations

import numpy as np

from core.clusters import NOISE, ClusterSettings, cluster, ctfidf_terms
from map_fixtures import sample_points  # noqa: F401  (fixture)


def _categories(points):
    return [m.get("category") for m in points.chunks.metadatas]


def test_kmeans_recovers_the_three_sample_categories(sample_points):
    result = cluster(sample_points.chunks.embeddings, sample_points.chunks.texts, _categories(sample_points),
                     ClusterSettings("kmeans", n_clusters=3))
    assert len(result.labels) == len(sample_points.chunks.ids) and result.noise == 0
    assert sum(c.size for c in result.clusters) == len(result.labels)
    assert result.purity is not None and result.purity > 0.85
    spec = [c for c in result.clusters if c.top_category == "technical spec"]
    assert len(spec) == 1 and spec[0].purity > 0.9
    assert {"markdown", "html", "code", "example", "block", "link"} & set(spec[0].terms), spec[0].terms


def test_hdbscan_labels_every_point_or_calls_it_noise(sample_points):
    result = cluster(sample_points.chunks.embeddings, sample_points.chunks.texts, _categories(sample_points),
                     ClusterSettings("hdbscan", min_cluster_size=5))
    assert sum(c.size for c in result.clusters) + result.noise == len(sample_points.chunks.ids)
    assert len(result.clusters) >= 2 and all(c.id != NOISE for c in result.clusters)


def test_ctfidf_prefers_words_peculiar_to_a_cluster():
    texts = ["The cat sat on the mat with another cat.", "A cat and a kitten purr.",
             "The rocket launched into orbit.", "Rocket engines burn fuel to reach orbit."]
    terms = ctfidf_terms(texts, np.array([0, 0, 1, 1]), n_terms=3)
    assert terms[0][0] == "cat" and terms[1][0] in {"rocket", "orbit"}
    assert not {"the", "and", "a", "with"} & set(terms[0] + terms[1])  # English stop words removed


def test_no_categories_means_no_purity(sample_points):
    result = cluster(sample_points.chunks.embeddings, sample_points.chunks.texts, None,
                     ClusterSettings("kmeans", n_clusters=4))
    assert result.purity is None and all(c.top_category is None for c in result.clusters)
