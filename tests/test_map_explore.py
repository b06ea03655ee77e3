"""Exploring the map in core: chart selections, full-space neighbours, the selection table and
search within it, the phrase filter, cluster label positions, the palette, the figure and the
points cache keyed by the collection's version. Real MiniLM vectors of the sample excerpts."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.bundle import BundleQuery, map_bundle
from core.clusters import ClusterSettings, cluster
from core.errors import ExplorerError
from core.map_explore import (HOVER_MAX_CHARS, HOVER_MIN_CHARS, chart_pick, cluster_centres, frame_csv, hover_texts,
                              map_frame,
                              nearest_neighbours, phrase_matches, search_within, selection_frame)
from core.map_figure import Colouring, Highlights, map_figure
from core.palette import HIGHLIGHT, MUTED, QUALITATIVE, category_colours
from core.projection import MapPoints, ProjectionSettings, cached_points, project
from core.stores import open_store
from core.stores.base import StoredChunks
from core.trust import neighbourhood_preservation
from core.types import Chunk, EmbedderInfo
from map_fixtures import sample_points  # noqa: F401  (fixture)


def test_chart_pick_reads_rows_from_customdata():
    click = {"points": [{"curve_number": 2, "point_index": 7, "customdata": 41, "x": 0.1, "y": 0.2}],
             "point_indices": [7], "box": [], "lasso": []}
    pick = chart_pick(click, 100)
    assert pick.rows == (41,) and not pick.region and pick.clicked == 41
    box = {"points": [{"customdata": 3}, {"customdata": [5]}, {"customdata": 3}, {"curve_number": 9},
                      {"customdata": 500}],
           "point_indices": [0, 1, 2], "box": [{"xref": "x", "yref": "y", "x": [0, 1], "y": [0, 1]}], "lasso": []}
    pick = chart_pick(box, 100)
    assert pick.rows == (3, 5) and pick.region and pick.clicked is None  # query markers and stale rows dropped
    assert chart_pick(None, 10).rows == () and chart_pick({"points": [], "box": [], "lasso": []}, 10).clicked is None


def test_neighbours_are_the_full_space_ones_with_their_map_rank(sample_points):
    vectors = sample_points.chunks.embeddings
    coords = project(vectors, ProjectionSettings(method="pca"), cache_dir=None).coords
    row = 17
    found = nearest_neighbours(vectors, coords, row, k=10)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosines = unit @ unit[row]
    cosines[row] = -np.inf
    assert [n.row for n in found] == list(np.argsort(-cosines, kind="stable")[:10])
    assert [round(n.similarity, 5) for n in found] == [round(float(cosines[n.row]), 5) for n in found]
    distances = np.linalg.norm(coords - coords[row], axis=1)
    for n in found:  # map rank = how many other points sit closer on the map, plus one
        assert n.map_rank == int((distances < distances[n.row]).sum())  # the point itself (0) is among the closer
    with pytest.raises(ExplorerError, match="not on this map"):
        nearest_neighbours(vectors, coords, len(vectors), k=3)


def test_neighbour_map_rank_on_a_hand_made_map():
    vectors = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    coords = np.array([[0.0, 0.0], [9.0, 0.0], [1.0, 0.0], [2.0, 0.0]])  # the map puts the true neighbour far off
    first = nearest_neighbours(vectors, coords, 0, k=1)[0]
    assert first.row == 1 and first.map_rank == 3


def test_phrase_filter_ignores_case_and_spacing():
    texts = ["Mr. Darcy  bowed", "mr. darcy\nsmiled", "Elizabeth", ""]
    assert phrase_matches(texts, "MR. DARCY").tolist() == [True, True, False, False]
    assert phrase_matches(texts, "darcy bowed").tolist() == [True, False, False, False]
    assert not phrase_matches(texts, "   ").any()


def test_cluster_centres_are_medians_and_skip_outliers():
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [100.0, 0.0], [5.0, 5.0], [7.0, 7.0], [50.0, 50.0]])
    labels = np.array([0, 0, 0, 1, 1, -1])
    centres = cluster_centres(coords, labels)
    assert [(c.id, c.position) for c in centres] == [(0, (1.0, 0.0)), (1, (6.0, 6.0))]


def test_selection_table_and_csv_hold_text_and_cluster(sample_points):
    clusters = cluster(sample_points.chunks.embeddings, sample_points.chunks.texts, settings=ClusterSettings(n_clusters=3))
    names = [f"cluster {c}" for c in clusters.labels]
    rows = (4, 0, 9)
    frame = selection_frame(sample_points, rows, names)
    assert list(frame.columns) == ["id", "source", "category", "cluster", "text"]
    assert frame["text"].tolist() == [sample_points.chunks.texts[i] for i in rows]  # full text, not a preview
    assert frame["cluster"].tolist() == [names[i] for i in rows]
    back = pd.read_csv(pd.io.common.BytesIO(frame_csv(frame)), keep_default_na=False)
    assert back["id"].tolist() == frame["id"].tolist() and back["text"].tolist() == frame["text"].tolist()
    assert "cluster" not in selection_frame(sample_points, rows).columns


def _points(texts: list[str], vectors: np.ndarray) -> MapPoints:
    metadatas = [{"source": f"s{i}", "category": "c"} for i in range(len(texts))]
    return MapPoints.of(StoredChunks([f"id{i}" for i in range(len(texts))], texts, metadatas, vectors), len(texts), "x")


def test_search_within_ranks_only_the_selection():
    texts = ["the whale and the sea", "a whale of a time", "glacier ice", "whale whale whale", "desert sand"]
    vectors = np.eye(5, 8, dtype=np.float32)
    points = _points(texts, vectors)
    keyword = search_within(points, [0, 2, 4], "whale", None, "keyword", k=5)
    assert [r.row for r in keyword] == [0]  # row 3 says "whale" more but is not selected
    query = vectors[2] + 0.5 * vectors[4]
    vector = search_within(points, [0, 2, 4], "anything", query, "vector", k=2)
    assert [r.row for r in vector] == [2, 4] and vector[0].score > vector[1].score
    hybrid = search_within(points, [0, 1, 2, 3], "whale", vectors[2], "hybrid", k=4)
    assert {r.row for r in hybrid} <= {0, 1, 2, 3} and [r.rank for r in hybrid] == [1, 2, 3, 4]
    assert search_within(points, [0, 1], "  ", None, "keyword") == []
    with pytest.raises(ExplorerError, match="embedding"):
        search_within(points, [0, 1], "whale", None, "vector")


def test_search_within_real_vectors_finds_the_topic(sample_points, minilm):
    categories = [m.get("category") for m in sample_points.chunks.metadatas]
    rows = list(range(len(categories)))
    query = "a monster made by a scientist"
    found = search_within(sample_points, rows, query, minilm.embed([query])[0], "hybrid", k=5)
    assert len(found) == 5
    assert sum(categories[r.row] == categories[found[0].row] for r in found) >= 3


def test_hover_texts_are_short_escaped_previews():
    small = hover_texts(["<b>bold</b> " + "word " * 100] * 10)
    assert small[0].startswith("&lt;b&gt;bold&lt;/b&gt;") and len(small[0]) <= HOVER_MAX_CHARS + 20
    assert "<" not in small[0]
    big = hover_texts(["word " * 100] * 100_000)
    assert max(len(t) for t in big) <= HOVER_MIN_CHARS and sum(map(len, big)) <= 2_600_000


def test_palette_is_stable_distinct_and_keeps_black_for_highlights():
    everything = ["science", "book", "spec", "news"]
    colours = category_colours(everything)
    assert category_colours(reversed(everything)) == colours  # order does not matter
    assert len({colours[c] for c in everything}) == len(everything)
    assert colours["(none)"] == colours["other"] == MUTED
    assert len(set(QUALITATIVE)) == len(QUALITATIVE) and HIGHLIGHT not in QUALITATIVE and MUTED not in QUALITATIVE


def test_figure_carries_rows_highlights_labels_and_the_query(sample_points):
    projection = project(sample_points.chunks.embeddings, ProjectionSettings(method="pca"), cache_dir=None)
    ids = sample_points.chunks.ids
    query = BundleQuery("q", "hybrid", 2, (0.0, 0.0), (ids[0], ids[1]))
    view = map_bundle("samples", EmbedderInfo("minilm", 384), sample_points, projection, (query,))
    categories = [c or "(none)" for c in view.categories]
    palette = category_colours(categories)
    clusters = cluster(sample_points.chunks.embeddings, sample_points.chunks.texts, settings=ClusterSettings(n_clusters=3))
    labels = tuple((c, f"label {c.id}") for c in cluster_centres(projection.coords, clusters.labels))
    marks = Highlights(focus=5, neighbours=(6, 7), matches=(8,), match_label="contains “x”", labels=labels)
    spec = json.loads(map_figure(view, Colouring(groups=categories, colours=palette), (query,), marks).to_json())
    traces = {t.get("name"): t for t in spec["data"]}
    for category in set(categories):
        assert traces[category]["marker"]["color"] == palette[category]
    assert {"clicked", "nearest in the full space", "contains “x”", "retrieved", "query: q",
            "cluster labels"} <= set(traces)
    assert traces["query: q"]["marker"]["symbol"] == "star"
    assert traces["cluster labels"]["text"] == [f"label {c.id}" for c, _ in labels]
    # Every point trace names its rows, so a click on any of them maps back to the chunk.
    assert traces["clicked"]["customdata"]["bdata"]  # numpy arrays travel as typed arrays
    counts = np.zeros(len(view.ids))
    counts[:3] = [1, 4, 40]
    spec = json.loads(map_figure(view, Colouring(counts=counts)).to_json())
    names = [t["name"] for t in spec["data"]]
    assert names == ["never retrieved", "retrieved"]
    assert spec["data"][1]["marker"]["colorbar"]["ticktext"] == ["1", "2", "5", "10", "20"]


def test_points_cache_follows_the_collection_version(store_dir, minilm, tmp_path):
    collection = open_store(str(store_dir)).open_collection("cached", minilm.info)
    texts = ["the first text", "the second text", "a third one", "and a fourth"]
    chunks = [Chunk(f"c{i}", t, "doc", 0, len(t), i, {"source": "doc", "category": "a"}) for i, t in enumerate(texts)]
    collection.upsert(chunks, minilm.embed(texts))
    cache = tmp_path / "points"
    first = cached_points(collection, str(store_dir), cache_dir=cache)
    events = []
    again = cached_points(collection, str(store_dir), progress=events.append, cache_dir=cache)
    assert [e.stage for e in events] == ["read from cache"]
    for name in ("ids", "texts", "metadatas"):  # read back as columns mapped from the cache file, same values
        assert list(getattr(again.chunks, name)) == list(getattr(first.chunks, name))
    np.testing.assert_array_equal(again.chunks.embeddings, first.chunks.embeddings)
    assert again.fingerprint == first.fingerprint and again.total == first.total
    assert list(again.categories) == ["a"] * 4 and again.sources.distinct() == ["doc"]
    # An edit that keeps the count changes the version: the next visit reads the store again.
    edited = Chunk("c0", "an edited text", "doc", 0, 14, 0, {"source": "doc", "category": "b"})
    collection.upsert([edited], minilm.embed([edited.text]))
    events.clear()
    fresh = cached_points(collection, str(store_dir), progress=events.append, cache_dir=cache)
    assert "read from cache" not in [e.stage for e in events]
    assert "an edited text" in fresh.chunks.texts and fresh.fingerprint != first.fingerprint
    assert len(list(cache.iterdir())) == 2  # the older version's files were replaced


def test_sampled_trust_estimates_the_full_mean(sample_points):
    vectors = sample_points.chunks.embeddings
    coords = project(vectors, ProjectionSettings(method="pca"), cache_dir=None).coords
    full = neighbourhood_preservation(vectors, coords, sample=None)
    sampled = neighbourhood_preservation(vectors, coords, sample=len(vectors) // 3)
    assert sampled.measured == len(vectors) // 3 and np.isnan(sampled.per_point).sum() == len(vectors) - sampled.measured
    assert abs(sampled.mean - full.mean) < 0.06
    measured = ~np.isnan(sampled.per_point)
    np.testing.assert_allclose(sampled.per_point[measured], full.per_point[measured])
    assert "on average" in full.explanation() and "random chunks" in sampled.explanation()


def test_map_csv_has_coordinates_labels_cluster_and_full_text(sample_points):
    projection = project(sample_points.chunks.embeddings, ProjectionSettings(method="pca"), cache_dir=None)
    view = map_bundle("samples", EmbedderInfo("minilm", 384), sample_points, projection)
    names = [f"cluster {i % 3}" for i in range(len(view.ids))]
    back = pd.read_csv(pd.io.common.BytesIO(frame_csv(map_frame(view, sample_points.chunks.texts, names))),
                       keep_default_na=False)
    assert list(back.columns) == ["id", "x", "y", "source", "category", "cluster", "text"]
    assert back["text"].tolist() == sample_points.chunks.texts and back["cluster"].tolist() == names
    np.testing.assert_allclose(back[["x", "y"]].to_numpy(), projection.coords, rtol=1e-5, atol=1e-6)


def test_an_unwritable_cache_only_costs_speed(sample_store, tmp_path):
    from core.config import SAMPLE_COLLECTION
    from core.workspace import open_workspace

    blocked = tmp_path / "file-not-folder"
    blocked.write_text("a file where the cache folder should be")
    collection = open_workspace(sample_store, SAMPLE_COLLECTION).collection
    points = cached_points(collection, sample_store, cache_dir=blocked / "points")
    assert len(points.chunks.ids) == collection.count()
    coords = project(points.chunks.embeddings, ProjectionSettings(method="pca"), cache_dir=blocked / "maps").coords
    assert coords.shape == (len(points.chunks.ids), 2)
