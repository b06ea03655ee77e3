"""The Embedding map page through AppTest, on the real sample store."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from core.bundle import BundleQuery, map_bundle
from core.config import SAMPLE_COLLECTION
from core.projection import ProjectionSettings, project
from core.types import EmbedderInfo
from map_fixtures import sample_points  # noqa: F401  (fixture)


def map_page(**state) -> AppTest:
    """The app opened on the sample store (EXPLORER_STORE), then the map page, with `state` preset."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("pages/map.py").run()
    assert not at.exception, at.exception
    return at


def chart(at: AppTest) -> dict:
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


def metric(at: AppTest, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def test_map_page_projects_colours_and_places_queries(app_env, sample_points):
    at = map_page()
    assert at.session_state["collection"] == SAMPLE_COLLECTION
    spec = chart(at)
    assert spec["data"][0]["type"] == "scattergl" and spec["layout"]["title"]["text"].startswith("PCA 2-D")
    assert metric(at, "Neighbourhood preserved").endswith("%")
    # Chunk text is escaped: the CommonMark spec's raw HTML never reaches the hover as markup.
    hovers = [h for trace in spec["data"] for h in trace.get("hovertext", [])]
    assert any("&lt;" in h for h in hovers)
    assert not any("<" in h.replace("<b>", "").replace("</b>", "").replace("<br>", "") for h in hovers)

    at.selectbox(key="map_method").set_value("tsne").run()
    assert not at.exception, at.exception
    assert chart(at)["layout"]["title"]["text"].startswith("t-SNE 2-D")

    at.text_input(key="map_query").input("Mr. Darcy asks Elizabeth to marry him").run()
    assert not at.exception, at.exception
    names = [t.get("name") or "" for t in chart(at)["data"]]
    assert "retrieved" in names and any(n.startswith("query: Mr. Darcy") for n in names)
    assert any("weighted mean" in c.value for c in at.caption)

    at.text_area(key="map_query_set").input("Who is Mr. Darcy?\nthe creature\nlink reference definitions")
    at.selectbox(key="map_colour").set_value("retrieval count").run()
    assert not at.exception, at.exception
    assert metric(at, "Queries run") == "3"
    assert metric(at, "Mapped chunks never retrieved").endswith(f" of {len(sample_points.chunks.ids)}")
    hubs = at.dataframe[0].value
    assert len(hubs) == 15 and hubs["times retrieved"].iloc[0] >= hubs["times retrieved"].iloc[-1]
    assert chart(at)["data"][0]["name"] == "times retrieved"

    at.selectbox(key="map_colour").set_value("cluster").run()
    assert not at.exception, at.exception
    clusters = at.dataframe[-1].value
    assert set(clusters.columns) >= {"label (c-TF-IDF terms)", "purity", "top category"}
    assert float(metric(at, "Cluster purity").rstrip("%")) > 80


def test_map_page_shows_an_imported_bundle(app_env, sample_points):
    coords = project(sample_points.chunks.embeddings, ProjectionSettings(method="pca"), cache_dir=None)
    query = BundleQuery("imported question", "vector", 2, (0.0, 0.0), tuple(sample_points.chunks.ids[:2]))
    bundle = map_bundle("samples", EmbedderInfo("minilm", 384), sample_points, coords, (query,))
    at = map_page(map_bundle=bundle)
    assert any("imported session bundle" in i.value for i in at.info)
    names = [t.get("name") or "" for t in chart(at)["data"]]
    assert "query: imported question" in names and "retrieved" in names
    at.button(key="map_close_bundle").click().run()
    assert "map_bundle" not in at.session_state
