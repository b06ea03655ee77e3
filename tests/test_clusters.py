"""Clusters of real MiniLM vectors recover the sample categories and get sensible c-TF-IDF names; map labels
name topics at several levels of detail and export as CSV or JSON."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from core.clusters import (FILLER_WORDS, LABEL_LEVELS, NOISE, ClusterSettings, MapLabel, cluster, ctfidf_terms,
                           labels_format, labels_text, map_labels, proper_nouns)
from core.config import SAMPLE_COLLECTION
from core.errors import ExplorerError
from core.projection import ProjectionSettings, load_points, project
from core.workspace import open_workspace
from map_fixtures import sample_points  # noqa: F401  (fixture)

# Words that named clusters of the sample novels before: they name no topic.
NOT_TOPICS = {"mr", "mrs", "miss", "said", "would", "could", "shall", "did", "know", "dear", "foo", "bar",
              "elizabeth", "darcy", "bennet", "bingley", "jane", "collins", "felix", "victor", "clerval", "the", "and"}


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


def test_cluster_names_leave_out_filler_and_names(sample_points):
    result = cluster(sample_points.chunks.embeddings, sample_points.chunks.texts, None,
                     ClusterSettings("kmeans", n_clusters=6))
    terms = {term for c in result.clusters for term in c.terms}
    assert terms and not terms & NOT_TOPICS, terms & NOT_TOPICS


def test_no_categories_means_no_purity(sample_points):
    result = cluster(sample_points.chunks.embeddings, sample_points.chunks.texts, None,
                     ClusterSettings("kmeans", n_clusters=4))
    assert result.purity is None and all(c.top_category is None for c in result.clusters)


def test_proper_nouns_are_words_capitalised_mid_sentence():
    texts = ["Then Mr. Collins spoke to Elizabeth. Elizabeth smiled, and Collins bowed to Elizabeth and Collins.",
             "Jane and Elizabeth walked.",
             "The Markdown spec says a list item may contain a list. Lists nest."]
    assert proper_nouns(texts) == {"collins", "elizabeth"}  # "Mr." does not start a sentence; "The", "Lists" do


def test_map_labels_of_the_sample_novels_name_topics_at_three_levels(full_sample_store):
    points = load_points(open_workspace(full_sample_store, SAMPLE_COLLECTION).collection)
    coords = project(points.chunks.embeddings, ProjectionSettings(method="pca"), cache_dir=None).coords
    labels = map_labels(coords, points.chunks.texts)
    levels = sorted({label.level for label in labels})
    assert levels == [0, 1, 2]
    for level in levels:
        named = [label for label in labels if label.level == level]
        assert 2 <= len(named) <= LABEL_LEVELS[level]
        assert sum(label.size for label in named) == len(points.chunks.ids)  # every point in one region
        assert [label.size for label in named] == sorted((label.size for label in named), reverse=True)
    words = {word for label in labels for word in label.text.split(", ")}
    assert not words & (NOT_TOPICS | FILLER_WORDS), words & (NOT_TOPICS | FILLER_WORDS)
    assert words & {"markdown", "html", "code", "link", "list", "emphasis"}  # the spec's regions say what they hold
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    assert all(lo[0] <= label.x <= hi[0] and lo[1] <= label.y <= hi[1] for label in labels)


def test_labels_export_as_csv_and_json():
    labels = [MapLabel(1.5, -2.0, "list, item, indented", 120, 0), MapLabel(0.25, 3.0, "link, href", 7, 1)]
    rows = list(csv.DictReader(io.StringIO(labels_text(labels, "csv"))))
    assert rows[0] == {"x": "1.5", "y": "-2", "text": "list, item, indented", "size": "120", "level": "0"}
    assert [MapLabel(**row) for row in json.loads(labels_text(labels, "json"))] == labels
    assert labels_format(Path("out/labels.JSON")) == "json"
    with pytest.raises(ExplorerError, match=".csv or .json"):
        labels_format(Path("labels.txt"))
    with pytest.raises(ExplorerError, match="2-D maps"):
        map_labels(np.zeros((30, 3)), ["text"] * 30)
