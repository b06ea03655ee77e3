"""The Embedding map page through AppTest, on the real sample store."""
from __future__ import annotations

import html
import json

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from core.bundle import BundleQuery, map_bundle
from core.config import SAMPLE_COLLECTION
from core.layout_jobs import wait_for_layout
from core.projection import ProjectionSettings, project
from core.types import EmbedderInfo
from map_fixtures import sample_points  # noqa: F401  (fixture)


def map_page(**state) -> AppTest:
    """The app opened on the sample store (EXPLORER_STORE), then the map page, with `state` preset."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("views/map.py").run()
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
    # UMAP by default: PCA meanwhile while its background job runs (unless an earlier run cached it).
    assert spec["data"][0]["type"] == "scattergl" and spec["layout"]["title"]["text"][:8] in ("PCA 2-D,", "UMAP 2-D")
    umap = wait_for_layout(sample_points.chunks.embeddings, ProjectionSettings(), data_key=sample_points.fingerprint)
    assert umap.final, umap.status
    at.run()
    assert chart(at)["layout"]["title"]["text"].startswith("UMAP 2-D")
    assert metric(at, "True neighbours kept on the map").endswith(" of 10")
    # Chunk text is escaped: the CommonMark spec's raw HTML never reaches the hover as markup.
    hovers = [h for trace in spec["data"] for h in trace.get("hovertext", [])]
    assert any("&lt;" in h for h in hovers)
    assert not any("<" in h for h in hovers)
    assert max(len(html.unescape(h)) for h in hovers) <= 100  # a short preview, not the wrapped full text
    assert "Of the 10 chunks the model finds closest to a chunk" in " ".join(c.value for c in at.caption)

    at.text_input(key="map_query").input("Mr. Darcy asks Elizabeth to marry him").run()
    assert not at.exception, at.exception
    names = [t.get("name") or "" for t in chart(at)["data"]]
    assert "retrieved" in names and any(n.startswith("query: Mr. Darcy") for n in names)
    assert any("weighted mean" in c.value for c in at.caption)

    at.selectbox(key="map_method").set_value("pca").run()
    assert not at.exception, at.exception
    assert chart(at)["layout"]["title"]["text"].startswith("PCA 2-D")
    assert "Choose UMAP as the method" in " ".join(c.value for c in at.caption)  # PCA's poor figure suggests it

    at.text_area(key="map_query_set").input("Who is Mr. Darcy?\nthe creature\nlink reference definitions")
    at.selectbox(key="map_colour").set_value("retrieval count").run()
    assert not at.exception, at.exception
    assert metric(at, "Queries run") == "3"
    assert metric(at, "Mapped chunks never retrieved").endswith(f" of {len(sample_points.chunks.ids)}")
    hubs = at.dataframe[0].value
    assert len(hubs) == 15 and hubs["times retrieved"].iloc[0] >= hubs["times retrieved"].iloc[-1]
    assert [t.get("name") for t in chart(at)["data"]][:2] == ["never retrieved", "retrieved"]

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


def select_on_chart(at: AppTest, selection: dict) -> AppTest:
    """Run the script with a plotly selection as the browser sends it (the widget's JSON string value)
    next to every other widget's value (set ones included).

    AppTest has no setter for chart selections (Session State refuses them) and does not send the
    chart's state on its own runs, so this adds it to the states AppTest would send."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    widget_id = at.get("plotly_chart")[0].proto.id
    states = at._tree.get_widget_states()
    states.widgets.append(WidgetState(id=widget_id, string_value=json.dumps({"selection": selection})))
    at._run(states)
    assert not at.exception, at.exception
    return at


def traces(at: AppTest) -> dict[str, dict]:
    return {t.get("name"): t for t in chart(at)["data"]}


def rows_of(trace: dict) -> list[int]:
    import base64

    import numpy as np

    data = trace["customdata"]
    return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()


def test_map_click_region_and_phrase(app_env, sample_points):
    at = map_page()
    texts = sample_points.chunks.texts
    click = {"points": [{"curve_number": 0, "point_number": 0, "point_index": 0, "customdata": 7}],
             "point_indices": [0], "box": [], "lasso": []}
    select_on_chart(at, click)
    assert "Clicked point" in [h.value for h in at.subheader]
    assert texts[7] in [t.value for t in at.text]
    neighbours = next(d.value for d in at.dataframe if "rank on the map" in d.value.columns)
    assert len(neighbours) == 10 and neighbours["similarity"].is_monotonic_decreasing
    marked = traces(at)
    assert rows_of(marked["clicked"]) == [7] and len(rows_of(marked["nearest in the full space"])) == 10
    assert neighbours["text"].tolist() == [texts[r] for r in rows_of(marked["nearest in the full space"])]

    region = {"points": [{"curve_number": 0, "point_index": i, "customdata": r} for i, r in enumerate((1, 2, 3, 40))],
              "point_indices": [0, 1, 2, 3], "box": [{"xref": "x", "yref": "y", "x": [0, 1], "y": [0, 1]}], "lasso": []}
    select_on_chart(at, region)
    assert "Selected region: 4 chunks" in [h.value for h in at.subheader]
    table = next(d.value for d in at.dataframe if list(d.value.columns) == ["source", "category", "text"])
    assert table["text"].tolist() == [texts[r] for r in (1, 2, 3, 40)]
    assert any(b.label.startswith("Selected chunks (CSV") for b in at.get("download_button"))
    at.text_input(key="map_within_query").input(texts[40].split()[3])
    select_on_chart(at, region)  # the browser sends the chart's selection with every rerun; AppTest does not
    found = next(d.value for d in at.dataframe if "rank" in d.value.columns and "score" in d.value.columns)
    assert set(found["text"]) <= set(table["text"]) and len(found) >= 1

    at.text_input(key="map_phrase").input("Darcy").run()
    assert not at.exception, at.exception
    hits = sum("darcy" in t.lower() for t in texts)
    assert any(c.value.startswith(f"{hits:,} chunks contain") for c in at.caption)
    assert len(rows_of(traces(at)["contains “Darcy”"])) == hits

    at.toggle(key="map_clusters_on").set_value(True).run()
    assert not at.exception, at.exception
    labels = traces(at)["cluster labels"]["text"]
    assert len(labels) >= 2 and all(labels)
