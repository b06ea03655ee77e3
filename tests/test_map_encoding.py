"""The 2-D map as the component receives it: classes, the binary points file, hover blocks, labels."""
from __future__ import annotations

import json

import numpy as np

from core.map_encoding import (HOVER_CHARS, Frame, MapLabel, classes, distinct_names, hover_blocks, label_size,
                               points_bytes, topic_labels)
from core.map_figure import MAX_LEGEND_GROUPS, Colouring
from core.palette import MUTED


def read_points(data: bytes, n: int) -> dict[str, np.ndarray]:
    return {"x": np.frombuffer(data, "<f4", n, 0), "y": np.frombuffer(data, "<f4", n, 4 * n),
            "row": np.frombuffer(data, "<u4", n, 8 * n), "code": np.frombuffer(data, "<u2", n, 12 * n),
            "size": np.frombuffer(data, "u1", n, 14 * n)}


def test_groups_become_legend_classes_with_the_rare_ones_as_other():
    groups = [f"g{i}" for i in range(MAX_LEGEND_GROUPS + 5) for _ in range(MAX_LEGEND_GROUPS + 5 - i)] + ["(none)"]
    found = classes(Colouring(groups=groups, colours={"g0": "#123456"}), len(groups))
    names = [e.name for e in found.legend]
    assert len(names) == MAX_LEGEND_GROUPS + 1 and names[-1] == "other"  # "(none)" is rare here: other
    assert found.legend[names.index("g0")].colour == "#123456" and found.legend[-1].colour == MUTED
    assert [names[c] for c in found.codes[:3]] == ["g0"] * 3
    assert sum(e.count for e in found.legend) == len(groups)
    assert found.legend[names.index("other")].count == sum(range(1, 6)) + 1
    assert len(found.sizes) == 1 and not found.size_codes.any()


def test_values_and_counts_are_binned():
    values = np.array([0.0, 0.05, 0.5, 0.99, 1.0, np.nan])
    found = classes(Colouring(values=values, value_label="kept"), len(values))
    assert [found.legend[c].name for c in found.codes] == ["0–10%", "0–10%", "50–60%", "90–100%", "90–100%",
                                                           "not measured"]
    counts = np.array([0, 1, 3, 12, 80])
    found = classes(Colouring(counts=counts), len(counts))
    assert [found.legend[c].name for c in found.codes] == ["never retrieved", "1 time", "2–4 times", "10–19 times",
                                                           "50+ times"]
    sizes = [found.sizes[s] for s in found.size_codes]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_points_file_holds_the_shown_rows_in_the_unit_square():
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(50, 2)) * [30.0, 3.0] + [100.0, -7.0]
    found = classes(Colouring(groups=[["a", "b"][i % 2] for i in range(50)]), 50)
    shown = np.array([3, 4, 10, 49])
    frame = Frame.of(coords)
    data = points_bytes(coords, shown, found, frame)
    assert len(data) == 15 * len(shown)
    points = read_points(data, len(shown))
    assert points["row"].tolist() == shown.tolist() and points["code"].tolist() == found.codes[shown].tolist()
    everything = frame.apply(coords)
    assert np.abs(everything).max() <= 1.0 and np.isclose(np.abs(everything).max(), 1 / 1.04, atol=1e-5)
    assert np.allclose(np.c_[points["x"], points["y"]], everything[shown])
    # One scale for both axes: the narrow axis stays narrow.
    assert np.ptp(everything[:, 1]) < 0.3 * np.ptp(everything[:, 0])
    assert MapLabel(100.0, -7.0, "t", 12, 0).as_list(frame)[2:] == ["t", 12, 0]


def test_hover_blocks_are_short_plain_texts():
    texts = ["<b>bold</b>   and\nspaced", "x" * 500] + [f"t{i}" for i in range(8)]
    blocks = list(hover_blocks(texts, block=4))
    assert [number for number, _ in blocks] == [0, 1, 2]
    first = json.loads(blocks[0][1])
    assert first[0] == "<b>bold</b> and spaced"  # markup kept as text: the component sets textContent
    assert len(first[1]) == HOVER_CHARS and first[1].endswith("…")
    assert json.loads(blocks[2][1]) == ["t6", "t7"]


def test_topic_labels_name_regions_at_finer_levels():
    rng = np.random.default_rng(1)
    words = ["alpha", "beta", "gamma", "delta"]
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    rows = rng.integers(0, 4, 2000)
    coords = centres[rows] + rng.normal(scale=0.5, size=(2000, 2))
    texts = [f"{words[r]} {words[r]} common filler {rng.integers(0, 50)}" for r in rows]
    labels = topic_labels(coords, texts, levels=(4, 12))
    assert {label.level for label in labels} == {0, 1}
    level0 = [label for label in labels if label.level == 0]
    assert sorted(label.text.split(" · ")[0] for label in level0) == sorted(words)
    for label in level0:
        word = label.text.split(" · ")[0]
        assert np.allclose([label.x, label.y], centres[words.index(word)], atol=1.0)
    assert label_size(100, 100, 0) > label_size(10, 100, 0) > label_size(100, 100, 1) - 5


def test_regions_that_share_their_top_terms_get_distinct_names_larger_first():
    terms = {0: ("father", "man", "house"), 1: ("father", "man", "ship"), 2: ("sea",), 3: ("father", "man")}
    names = distinct_names(terms, np.array([50, 80, 10, 5]), width=2)
    assert names[1] == "father · man"  # the larger region keeps the best name
    assert names[0] == "father · house"  # the next combination of its own terms
    assert names[2] == "sea"
    assert 3 not in names  # nothing left that is its own: unnamed rather than a repeat
