"""The Embedding map page through AppTest, on the real sample store."""
from __future__ import annotations

import json

import numpy as np
from streamlit.testing.v1 import AppTest

from app_pages import finish_jobs, open_page
from conftest import ROOT
from core.bundle import BundleQuery, map_bundle
from core.config import SAMPLE_COLLECTION
from core.label_edits import LabelEdits, Target
from core.labels import RINGED_OUTLIERS, check_points, document_names
from core.layout_jobs import wait_for_layout
from core.palette import OUTLIER_RING, SUSPECT_RING
from core.projection import ProjectionSettings, load_points, project
from core.types import EmbedderInfo
from core.workspace import open_workspace
from label_fixtures import labelled_store, labels_dir  # noqa: F401  (fixtures)
from map_fixtures import hover_previews, map_data, map_points, sample_points  # noqa: F401  (fixture)


def map_page(**state) -> AppTest:
    """The app opened on the sample store (EXPLORER_STORE), then the map page, with `state` preset."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    finish_jobs(at.switch_page("views/map.py").run())  # the points are read in the background
    assert not at.exception, at.exception
    return at


def chart(at: AppTest) -> dict:
    """The Plotly figure (3-D maps and imported bundles)."""
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


def pick_on_map(at: AppTest, kind: str, rows: list[int]) -> AppTest:
    """Run the script as the browser does after a click/box/lasso on the map: the component's state
    (points file + indices into it) beside every other widget's value."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    data = map_data(at)
    index = {int(r): i for i, r in enumerate(map_points(data)["row"])}
    pick = {"key": data["points"]["key"], "kind": kind, "ids": [index[r] for r in rows]}
    states = at._tree.get_widget_states()
    states.widgets.append(WidgetState(id=at.get("bidi_component")[0].proto.id, json_value=json.dumps({"pick": pick})))
    at._run(states)
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def test_map_page_projects_colours_and_places_queries(app_env, sample_points):
    at = map_page()
    assert at.session_state["collection"] == SAMPLE_COLLECTION
    data = map_data(at)
    n = len(sample_points.chunks.ids)
    # UMAP by default: PCA meanwhile while its background job runs (unless an earlier run cached it).
    assert data["points"]["n"] == n and data["footer"][:8] in ("PCA 2-D,", "UMAP 2-D")
    umap = wait_for_layout(sample_points.chunks.embeddings, ProjectionSettings(), data_key=sample_points.fingerprint)
    assert umap.final, umap.status
    finish_jobs(at.run())  # the UMAP map's trust and topic names: background jobs of the session
    data = map_data(at)
    assert data["footer"].startswith("UMAP 2-D")
    points = map_points(data)
    assert sorted(points["row"].tolist()) == list(range(n))
    assert np.abs(points["x"]).max() <= 1 and np.abs(points["y"]).max() <= 1
    categories = [c["name"] for c in data["categories"]]
    assert sum(c["count"] for c in data["categories"]) == n
    assert [categories[c] for c in points["category"][:5]] == [
        sample_points.chunks.metadatas[r]["category"] for r in points["row"][:5]]
    # Labels name regions of the map; the component sets them (and categories) as text, never markup.
    assert data["labels"] and all(isinstance(text, str) and text for _, _, text, _, _ in data["labels"])
    assert {level for *_, level in data["labels"]} >= {0}
    assert metric(at, "True neighbours kept on the map").endswith(" of 10")
    assert "Of the 10 chunks the model finds closest to a chunk" in " ".join(c.value for c in at.caption)
    # Hover previews are files of plain text per block of rows, written in the background.
    previews = hover_previews(data)
    assert len(previews) == n and all(len(p) <= 100 for p in previews)

    at.selectbox(key="map_method").set_value("tsne").run()
    assert not at.exception, at.exception
    assert map_data(at)["footer"].startswith(("PCA 2-D", "t-SNE 2-D"))  # PCA while t-SNE computes in the background
    at.selectbox(key="map_method").set_value("umap").run()  # computed above: the query is placed on it

    at.text_input(key="map_query").input("Mr. Darcy asks Elizabeth to marry him").run()
    assert not at.exception, at.exception
    query = map_data(at)["query"]
    assert query is not None and len(query["hits"]) == 10 and -1.5 < query["x"] < 1.5
    assert any("weighted mean" in c.value for c in at.caption)

    finish_jobs(at.selectbox(key="map_method").set_value("pca").run())  # the PCA map's trust
    assert not at.exception, at.exception
    assert map_data(at)["footer"].startswith("PCA 2-D")
    assert "Choose UMAP as the method" in " ".join(c.value for c in at.caption)  # PCA's poor figure suggests it

    at.text_area(key="map_query_set").input("Who is Mr. Darcy?\nthe creature\nlink reference definitions")
    finish_jobs(at.selectbox(key="map_colour").set_value("retrieval count").run())  # the queries: a background job
    assert not at.exception, at.exception
    assert metric(at, "Queries run") == "3"
    assert metric(at, "Mapped chunks never retrieved").endswith(f" of {n}")
    hubs = at.dataframe[0].value
    assert len(hubs) == 15 and hubs["times retrieved"].iloc[0] >= hubs["times retrieved"].iloc[-1]
    legend = map_data(at)["categories"]
    assert legend[0]["name"] == "never retrieved" and len(map_data(at)["sizes"]) == len(legend)

    finish_jobs(at.selectbox(key="map_colour").set_value("cluster").run())  # clustering: a background job
    assert not at.exception, at.exception
    clusters = next(d.value for d in at.dataframe if "purity" in d.value.columns)
    assert set(clusters.columns) >= {"label (c-TF-IDF terms)", "purity", "top category"}
    assert float(metric(at, "Cluster purity").rstrip("%")) > 80

    finish_jobs(at.radio(key="map_dims").set_value(3).run())  # at most 100,000 points in 3-D: read again
    assert not at.exception, at.exception
    assert chart(at)["data"][0]["type"] == "scatter3d" and not at.get("bidi_component")


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


def test_map_click_region_filters_and_phrase(app_env, sample_points):
    at = map_page()
    texts = sample_points.chunks.texts
    pick_on_map(at, "click", [7])
    assert "Clicked point" in [h.value for h in at.subheader]
    assert texts[7] in [t.value for t in at.text]
    neighbours = next(d.value for d in at.dataframe if "rank on the map" in d.value.columns)
    assert len(neighbours) == 10 and neighbours["similarity"].is_monotonic_decreasing
    data = map_data(at)
    rows = map_points(data)["row"]
    assert rows[data["focus"]] == 7
    ringed = [int(rows[i]) for i in data["rings"][0]["ids"]]
    assert len(ringed) == 10 and neighbours["text"].tolist() == [texts[r] for r in ringed]

    pick_on_map(at, "lasso", [1, 2, 3, 40])
    assert "Selected region: 4 chunks" in [h.value for h in at.subheader]
    table = next(d.value for d in at.dataframe if list(d.value.columns) == ["source", "category", "text"])
    assert table["text"].tolist() == [texts[r] for r in (1, 2, 3, 40)]
    assert any(b.label.startswith("Selected chunks (CSV") for b in at.get("download_button"))
    at.text_input(key="map_within_query").input(texts[40].split()[3])
    pick_on_map(at, "lasso", [1, 2, 3, 40])  # the browser sends the component's state with every rerun
    found = next(d.value for d in at.dataframe if "rank" in d.value.columns and "score" in d.value.columns)
    assert set(found["text"]) <= set(table["text"]) and len(found) >= 1

    # A category filter narrows the map: its file holds only that category's rows, and a pick made
    # on the unfiltered map no longer counts.
    category = sample_points.chunks.metadatas[0]["category"]
    at.multiselect(key="map_filter_categories").set_value([category]).run()
    assert not at.exception, at.exception
    kept = [i for i, m in enumerate(sample_points.chunks.metadatas) if m["category"] == category]
    assert sorted(map_points(map_data(at))["row"].tolist()) == kept
    assert "Clicked point" not in [h.value for h in at.subheader]
    assert not any(h.value.startswith("Selected region") for h in at.subheader)
    assert any(c.value.startswith(f"Filters keep {len(kept):,} of") for c in at.caption)
    at.multiselect(key="map_filter_categories").set_value([]).run()

    at.text_input(key="map_phrase").input("Darcy").run()
    assert not at.exception, at.exception
    hits = sum("darcy" in t.lower() for t in texts)
    assert any(c.value.startswith(f"{hits:,} chunks contain") for c in at.caption)
    data = map_data(at)
    rows = map_points(data)["row"]
    assert sorted(int(rows[i]) for i in data["matches"]) == [i for i, t in enumerate(texts) if "darcy" in t.lower()]

    finish_jobs(at.toggle(key="map_clusters_on").set_value(True).run())
    assert not at.exception, at.exception
    level0 = [text for *_, text, _, level in map_data(at)["labels"] if level == 0]
    assert len(level0) >= 2 and all(level0)


def test_the_map_rings_suspect_labels_and_outliers_when_asked(labelled_store, labels_dir,  # noqa: F811
                                                               monkeypatch):
    """Off: no labels check runs. On: the chunks of the documents the labels check flags ringed in red
    (the injected flips among them), its most isolated documents in violet; a fix drops its document."""
    monkeypatch.setenv("EXPLORER_STORE", labelled_store.store)
    at = open_page("views/map.py", {"method": "pca"})
    next(s for s in at.sidebar.selectbox if s.label == "Collection").set_value(labelled_store.noisy)
    finish_jobs(at.run())  # the new collection's points are read in the background
    assert not at.exception, at.exception
    assert [r["ids"] for r in map_data(at)["rings"][2:]] == [[], []]
    assert not any(c.value.startswith("Ringed in red") for c in at.caption)

    finish_jobs(at.checkbox(key="map_label_rings").check().run())  # the labels check: a background job
    assert not at.exception, at.exception
    data = map_data(at)
    rows = map_points(data)["row"]
    suspect, outlier = ([int(rows[i]) for i in ring["ids"]] for ring in data["rings"][2:])
    assert [ring["colour"] for ring in data["rings"][2:]] == [SUSPECT_RING, OUTLIER_RING]
    points = load_points(open_workspace(labelled_store.store, labelled_store.noisy).collection)
    documents = document_names(points.chunks.metadatas)
    report = check_points(points, edits=LabelEdits(labelled_store.store, labelled_store.noisy))
    assert sorted(suspect) == sorted(r for s in report.flagged for r in s.rows)
    assert sorted(outlier) == sorted(r for o in report.outliers[:RINGED_OUTLIERS] for r in o.rows) and outlier
    assert set(labelled_store.flipped) <= {documents[r] for r in suspect}
    assert any(c.value.startswith(f"Ringed in red: {len(suspect):,} chunks") for c in at.caption)

    document, (truth, given) = next(iter(labelled_store.flipped.items()))
    LabelEdits(labelled_store.store, labelled_store.noisy).set_label(
        "category", [Target(points.chunks.ids[documents.index(document)], document, given)], truth)
    finish_jobs(at.run())
    assert not at.exception, at.exception
    data = map_data(at)
    rows = map_points(data)["row"]
    assert document not in {documents[int(rows[i])] for i in data["rings"][2]["ids"]}


def test_reading_the_points_and_laying_them_out_go_on_while_the_visitor_is_on_another_page(app_env, sample_points,
                                                                                          monkeypatch):
    """The first read of a collection version's points, then its first PCA layout, are background jobs: each bar from
    the first run and again after a visit to another page (the same job, not cancelled, not restarted), then the map.
    Filters set before a new read keep their values through the runs that wait for it."""
    import threading

    import core.jobs
    import ui

    gates, reads, layouts = {"read": threading.Event(), "layout": threading.Event()}, [], []
    real_read, real_layout = ui.cached_points, ui.project

    def held_read(*args, **kwargs):
        reads.append(args[2])
        gates["read"].wait(60)
        return real_read(*args, **kwargs)

    def held_layout(*args, **kwargs):
        layouts.append(args[1].key())
        gates["layout"].wait(60)
        return real_layout(*args, **kwargs)

    monkeypatch.setattr(ui, "cached_points", held_read)  # what the points job reads with
    monkeypatch.setattr(ui, "project", held_layout)  # what the layout job computes with
    monkeypatch.setattr(core.jobs.Results, "get", lambda *_: None)  # as on a fresh server: nothing laid out before

    def leave_and_return(key: str) -> None:
        job = at.session_state["_jobs"][key]
        assert job.running and at.get("progress") and not at.get("bidi_component")
        at.switch_page("views/search.py").run()
        at.switch_page("views/map.py").run()
        assert at.session_state["_jobs"][key] is job and job.running and at.get("progress")

    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
        at.session_state["map_cap"] = 1_234  # a sample no earlier test read
        at.query_params["method"] = "pca"
        at.run()
        at.switch_page("views/map.py").run()
        leave_and_return("points")
        gates["read"].set()
        assert at.session_state["_jobs"]["points"].wait(60)
        at.run()  # the points are read: their PCA layout is worked out
        leave_and_return("pca")
    finally:
        gates["read"].set()
        gates["layout"].set()
    finish_jobs(at)
    assert not at.exception and not at.error
    assert map_data(at)["points"]["n"] == len(sample_points.chunks.ids) and set(reads) == {1_234}
    assert layouts == ["pca-2d-cosine"]

    category = sample_points.chunks.metadatas[0]["category"]
    finish_jobs(at.multiselect(key="map_filter_categories").set_value([category]).run())
    gates["read"] = threading.Event()
    try:
        at.number_input(key="map_cap").set_value(1_235).run()  # another read, as after a write: no filters drawn
        assert at.session_state["_jobs"]["points"].running and not at.get("multiselect")
        at.run()
    finally:
        gates["read"].set()
    finish_jobs(at)
    assert not at.exception and not at.error and set(reads) == {1_234, 1_235}
    assert at.multiselect(key="map_filter_categories").value == [category]
    assert any(c.value.startswith("Filters keep ") for c in at.caption)
