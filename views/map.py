"""Embedding map: the collection projected to 2-D/3-D (PCA, t-SNE, UMAP), coloured by
category, source, cluster, neighbourhood trust or retrieval count. The 2-D map is a WebGL
component (components/scatter) that draws a million points with density shading, a legend
that hides and shows classes, and topic labels that get finer as you zoom; 3-D and imported
bundles stay Plotly. Click a point for its text and its nearest neighbours in the full space,
box/lasso select a region for a table of what is in it (exportable, searchable): both in a
panel beside the map. Filters by category, source and metadata narrow the map and so every
selection; highlight chunks by a phrase, drop a query onto the map; session bundles replay a
view without recomputing it. The logic is in core (map_explore, map_encoding, map_figure,
projection, trust, clusters); this page wires widgets."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Hashable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import ui
from core.bundle import Bundle, BundleQuery, from_json, map_bundle, to_json
from core.clusters import CLUSTER_METHODS, NOISE, ClusterSettings, Clustering, cluster
from core.documents import DocumentKey, label as document_label, shown_sources
from core.errors import ExplorerError
from core.label_edits import LabelEdits
from core.labels import RINGED_OUTLIERS, check_points
from core.jobs import Task
from core.layout_jobs import current_layout, job_status
from core.markup import markdown_text
from components.scatter import current_pick, map_files, scatter_map, static_serving_on
from core.map_encoding import Classes, MapLabel, cached_topic_labels, classes, label_size
from core.map_explore import (MapFilter, chart_pick, cluster_centres, filter_rows, frame_csv, map_frame,
                              metadata_fields, nearest_neighbours, phrase_matches, search_within, selection_frame)
from core.map_figure import Colouring, Highlights, map_figure
from core.palette import OUTLIER_RING, SUSPECT_RING, category_colours
from core.projection import (DEFAULT_METHOD, MAP_POINTS, METHOD_LABELS, METHODS, METRICS, MapPoints, Projection,
                             ProjectionSettings, place_queries)
from core.retrieval_counts import RetrievalCounts, query_lines, retrieval_counts
from core.search import DEFAULT_MODE, MODES, search
from core.trust import DEFAULT_K, Trust, cached_preservation, suggestion
from core.vectorfiles import export_bytes
from core.types import ProgressCallback, content_hash
from core.workspace import Workspace

BUNDLE_KEY, BUNDLE_FILE_KEY, UPLOADS_KEY = "map_bundle", "map_bundle_file", "map_bundle_uploads"
CHART_KEY = "map_chart"  # + the view's identity: a new map starts with no selection
COLOURS = ("category", "source", "cluster", "trust", "retrieval count")
SELECTION_MODES = ("points", "box", "lasso")
TEXT_COLUMN = st.column_config.TextColumn("text", width="large")
SCATTER_KEY = "map_scatter"
TRUST_JOB, CLUSTERS_JOB, TOPICS_JOB = "map_trust", "map_clusters", "map_topics"  # background jobs of the session
RINGS_JOB, COUNTS_JOB = "map_rings", "map_counts"
MAX_POINTS = 2_000_000
PLOTLY_POINTS = 100_000  # 3-D stays Plotly, which is slow beyond this
TABLE_ROWS = 1_000  # a selection's table shows this many; its CSV holds all
RING = "#111111"
D = ProjectionSettings()


# -- cached computations: keyed by what they depend on, heavy inputs passed unhashed. Each makes
# its own progress bar: Streamlit replays elements created inside a cached function on a cache hit.

def shown_layout(points: MapPoints, settings: ProjectionSettings) -> tuple[Projection, str | None] | None:
    """The layout to draw and the method computing in the background to replace it (None: final); None while a
    first view's PCA is worked out (seconds at 100,000 points) by a background job of the session, its bar where the
    map goes. Until the wanted layout is computed (by a background job every session shares) PCA is drawn with the
    job's progress, and the page reruns when it is done."""
    layout = current_layout(points.chunks.embeddings, settings, data_key=points.fingerprint,
                            pca=lambda linear: ui.pca_layout(points, linear))
    if layout is None:
        return None
    if layout.final:
        return layout.projection, None
    layout_progress(len(points.chunks.ids), settings, points.fingerprint)
    return layout.projection, None if layout.status.state == "failed" else settings.method


@st.fragment(run_every=2.0)
def layout_progress(n: int, settings: ProjectionSettings, data_key: str) -> None:
    status = job_status(n, settings, data_key=data_key)
    if status.state == "done":
        st.rerun()
    elif status.state == "failed":
        st.warning(f"{status.describe()} The PCA map is shown instead.")
    else:
        st.progress(status.fraction, text=f"{status.describe()} The PCA map is shown meanwhile.")


# Trust, clusters and topic names take seconds (minutes at a million points): background jobs of the session
# (`ui.job_result`), their bars shown where their results go, the map drawn meanwhile; None until done.

def in_background(key: str, inputs: Hashable, label: str, task: Task) -> Any:
    """`ui.job_result`, a failure said in words where the result would go (then None, as while it runs)."""
    try:
        return ui.job_result(key, inputs, label, task)
    except ExplorerError as exc:
        st.warning(str(exc))
        return None


def measured_trust(points: MapPoints, projection: Projection) -> Trust | None:
    map_key = f"{points.fingerprint}-{projection.settings.key()}"
    return in_background(TRUST_JOB, map_key, "Measuring neighbourhood preservation",
                         lambda _: cached_preservation(points.chunks.embeddings, projection.coords, DEFAULT_K,
                                                       projection.settings.metric, map_key=map_key))


def found_clusters(points: MapPoints, settings: ClusterSettings) -> Clustering | None:
    def find(_: ProgressCallback) -> Clustering:
        categories = [c or None for c in points.categories]
        return cluster(points.chunks.embeddings, points.chunks.texts, categories, settings)

    return in_background(CLUSTERS_JOB, (points.fingerprint, settings), "Clustering", find)


def run_queries(workspace: Workspace, queries: tuple[str, ...], k: int, mode: str) -> RetrievalCounts | None:
    return in_background(COUNTS_JOB, (ui.collection_version(workspace), queries, k, mode), "Running the queries",
                         lambda progress: retrieval_counts(workspace.collection, workspace.embedder, queries, k=k,
                                                           mode=mode, progress=progress))


@st.cache_resource(show_spinner=False, max_entries=2)
def cached_view(fingerprint: str, settings: ProjectionSettings, full_paths: bool, _workspace: Workspace,
                _points: MapPoints, _projection: Projection) -> Bundle:
    """The map as a bundle (ids, sources, categories, previews): built once per map, not per rerun. Its
    sources go into the CSV and the session bundle: a shared app names them as it shows them."""
    return map_bundle(_workspace.collection.name, _workspace.collection.embedder, _points, _projection,
                      full_paths=full_paths)


@st.cache_data(show_spinner=False, max_entries=16)
def cached_filter(fingerprint: str, wanted: MapFilter, _points: MapPoints) -> np.ndarray:
    return filter_rows(_points, wanted)


@st.cache_data(show_spinner=False, max_entries=4)
def cached_fields(fingerprint: str, _points: MapPoints) -> dict[str, list[str]]:
    return metadata_fields(_points.chunks.metadatas)


@st.cache_data(show_spinner=False, max_entries=8)
def group_classes(fingerprint: str, colour: str, _view: Bundle, _palette: dict[str, str]) -> Classes:
    """Legend classes of a colouring by category or source: they change only with the points."""
    return classes(colouring(colour, _view, _palette, None, None, None), len(_view.ids))


def named_topics(points: MapPoints, projection: Projection, first_level: int) -> list[MapLabel] | None:
    map_key = f"{points.fingerprint}-{projection.settings.key()}"
    return in_background(TOPICS_JOB, (map_key, first_level), "Naming the map's regions",
                         lambda _: cached_topic_labels(projection.coords, points.chunks.texts, map_key, first_level))


def label_rings(points: MapPoints, edits: LabelEdits) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The rows of suspect labels and of outliers by the labels check (category, the user's fixes on top,
    default k and threshold) on the map's points: worked out once per points (their fingerprint follows the
    collection's version) and version of the fixes, by a background job (None while it runs)."""
    return ui.job_result(RINGS_JOB, (points.fingerprint, edits.version()), "Checking labels", lambda progress: (
        check_points(points, field="category", edits=edits, progress=progress).ringed()))


# -- the page ----------------------------------------------------------------------------

def settings_controls() -> tuple[ProjectionSettings, int]:
    method_col, dims_col = st.columns(2)
    metric_col, seed_col, cap_col = st.columns(3)
    ui.url_linked("map_method", "method", METHODS)
    st.session_state.setdefault("map_method", DEFAULT_METHOD)
    method = method_col.selectbox("Method", METHODS, format_func=METHOD_LABELS.get, key="map_method",
                                  help="UMAP (default) and t-SNE keep local neighbourhoods, distances between far "
                                       "clusters mean little; computed in the background, PCA shown meanwhile. "
                                       "PCA: instant, linear, keeps global layout.")
    dims = dims_col.radio("Dimensions", (2, 3), horizontal=True, key="map_dims")
    metric = metric_col.selectbox("Metric", METRICS, key="map_metric")
    seed = seed_col.number_input("Seed", 0, 2**31 - 1, D.seed, key="map_seed", disabled=method != "umap",
                                help="UMAP only: PCA and t-SNE (started from PCA) give the same map every time.")
    cap = cap_col.number_input("Max points", 100, *ui.limits().fit("map_points", MAX_POINTS, MAP_POINTS),
                               step=1000, key="map_cap",
                               help="Collections above this are mapped as a seeded random sample.")
    perplexity, n_neighbors, min_dist = D.perplexity, D.n_neighbors, D.min_dist
    if method == "tsne":
        perplexity = st.slider("Perplexity (t-SNE)", 2.0, 100.0, D.perplexity, 1.0, key="map_perplexity",
                               help="Roughly how many neighbours each point attends to.")
    elif method == "umap":
        left, right = st.columns(2)
        n_neighbors = left.slider("n_neighbors (UMAP)", 2, 200, D.n_neighbors, key="map_n_neighbors",
                                  help="Small: fine local structure; large: more global shape.")
        min_dist = right.slider("min_dist (UMAP)", 0.0, 1.0, D.min_dist, 0.05, key="map_min_dist",
                                help="How tightly points may pack together.")
    settings = ProjectionSettings(method=method, dims=dims, perplexity=perplexity, n_neighbors=n_neighbors,
                                  min_dist=min_dist, metric=metric, seed=int(seed))
    return settings, int(cap)


def clusters_section(points: MapPoints, n_categories: int, wanted: bool) -> Clustering | None:
    asked = st.toggle("Find clusters", key="map_clusters_on",
                      help="Cluster the full vectors and name each cluster by its most distinctive words (c-TF-IDF). "
                           "Always on while the map is coloured by cluster.")
    if not (asked or wanted):
        return None
    method_col, size_col = st.columns(2)
    method = method_col.selectbox("Clustering", CLUSTER_METHODS, key="map_cluster_method",
                                  format_func={"kmeans": "KMeans (you pick the count)",
                                               "hdbscan": "HDBSCAN (finds the count, leaves outliers)"}.get)
    if method == "kmeans":
        settings = ClusterSettings("kmeans", n_clusters=size_col.slider(
            "Clusters", 2, 40, max(2, min(n_categories, 40)) if n_categories > 1 else 8, key="map_n_clusters"))
    else:
        settings = ClusterSettings("hdbscan", min_cluster_size=size_col.slider(
            "Min cluster size", 2, 200, 10, key="map_min_cluster_size"))
    result = found_clusters(points, settings)
    if result is None:
        return None
    if result.purity is not None:
        st.metric("Cluster purity (share in each cluster's top category)", f"{result.purity:.0%}")
    if result.noise:
        st.caption(f"{result.noise:,} chunks are outliers HDBSCAN left unclustered.")
    st.dataframe(pd.DataFrame([{"cluster": c.id, "label (c-TF-IDF terms)": ", ".join(c.terms), "size": c.size,
                                "top category": c.top_category, "purity": c.purity} for c in result.clusters]),
                 hide_index=True, width="stretch",
                 column_config={"purity": st.column_config.NumberColumn(format="percent"),
                                "label (c-TF-IDF terms)": st.column_config.TextColumn(width="large")})
    return result


def query_set_section(workspace: Workspace, view: Bundle) -> RetrievalCounts | None:
    limits = ui.limits()
    text = st.text_area("Queries, one per line", key="map_query_set", height=120,
                        max_chars=limits.query_chars and limits.query_chars * (limits.queries or 1),
                        help="Each query is run at k; the map can then be coloured by how often each chunk came back.")
    k_col, mode_col = st.columns(2)
    k = k_col.slider("k per query", 1, *limits.fit("k", 50, 10), key="map_query_set_k")
    mode = mode_col.selectbox("Search mode", MODES, index=MODES.index(DEFAULT_MODE), key="map_query_set_mode")
    queries = tuple(query_lines(text))
    if not queries:
        return None
    if not ui.within_limit("queries", len(queries), "queries in the set"):
        return None
    counts = run_queries(workspace, queries, k, mode)
    if counts is None:
        return None
    never = counts.never_retrieved(view.ids)
    left, right = st.columns(2)
    left.metric("Queries run", counts.queries)
    right.metric("Mapped chunks never retrieved", f"{len(never):,} of {len(view.ids):,}")
    index = {chunk_id: i for i, chunk_id in enumerate(view.ids)}
    hubs = [{"times retrieved": n, "share of queries": n / counts.queries,
             "source": shown_sources(view.sources)[view.sources[index[i]]] if i in index else "(not on the map)",
             "text": view.texts[index[i]] if i in index else ""} for i, n in counts.hubs(15)]
    st.dataframe(pd.DataFrame(hubs), hide_index=True, width="stretch",
                 column_config={"share of queries": st.column_config.NumberColumn(format="percent"),
                                "text": TEXT_COLUMN})
    return counts


def bundle_section(view: Bundle | None) -> None:
    with st.expander("Session bundle: save or restore this view"):
        st.caption("One JSON file with the collection, embedder, chunk and projection settings, every point's "
                   "position and the queries shown, so a demo replays without recomputing.")
        if view is not None:
            st.download_button("Download session bundle", lambda: to_json(view), file_name="map-session.json",
                               mime="application/json", key="map_bundle_download")
        if not ui.uploads_allowed():
            return
        # A fresh key per closed bundle empties the uploader, so closing does not re-open the same file.
        upload = st.file_uploader("Open a session bundle", type=["json"], max_upload_size=ui.upload_limit_mb(),
                                  key=f"map_bundle_upload_{st.session_state.get(UPLOADS_KEY, 0)}")
        if upload is not None and upload.file_id != st.session_state.get(BUNDLE_FILE_KEY):
            try:
                ui.admit_uploads([upload])  # charged to this session's upload limits like every upload
                st.session_state[BUNDLE_KEY] = from_json(upload.getvalue())
            except ExplorerError as exc:
                st.error(str(exc))
                return
            st.session_state[BUNDLE_FILE_KEY] = upload.file_id
            st.rerun()


def query_box(workspace: Workspace, points: MapPoints, projection: Projection, query: str, k: int,
              mode: str) -> BundleQuery | None:
    """The query dropped onto the map: where it lands and which chunks it retrieves."""
    if not query.strip():
        return None
    results = search(workspace.collection, workspace.embedder, query, mode=mode, k=int(k))
    vector = workspace.embedder.embed([query])
    position = place_queries(vector, points.chunks.embeddings, projection, k=int(k))[0]
    if projection.mean is None:
        st.caption(f"{METHOD_LABELS[projection.settings.method]} cannot place new points exactly: the query (✕) "
                   f"sits at the similarity-weighted mean of its {int(k)} nearest mapped chunks' positions.")
    on_map = set(points.chunks.ids) if points.sampled else None  # every chunk is on a map that is not sampled
    missing = sum(r.id not in on_map for r in results) if on_map is not None else 0
    if missing:
        st.caption(f"{missing} of the {len(results)} retrieved chunks are not in the mapped sample.")
    return BundleQuery(query, mode, int(k), tuple(float(v) for v in position), tuple(r.id for r in results))


def map_categories(workspace: Workspace, points: MapPoints) -> list[str]:
    """The collection's categories, for the palette: from the points when all are mapped (reading
    them from the store again costs 15 s at 100,000 chunks), else from the store."""
    if points.sampled:
        return ui.facets(workspace)[0]
    return points.categories.distinct()


def colouring(colour: str, view: Bundle, palette: dict[str, str], trust: Trust | None,
              clusters: Clustering | None, counts: RetrievalCounts | None) -> Colouring:
    if colour == "trust" and trust is not None:
        return Colouring(values=trust.per_point, value_label=f"neighbours kept (k={trust.k})")
    if colour == "retrieval count" and counts is not None:
        return Colouring(counts=np.array([counts.count(i) for i in view.ids]))
    if colour == "cluster" and clusters is not None:
        names = cluster_names(clusters)
        return Colouring(groups=names, colours=category_colours(names))
    if colour == "source":
        shown = shown_sources(view.sources)  # relative to the folder the files share: no server path in a legend
        groups = [shown[s] for s in view.sources]
        return Colouring(groups=groups, colours=category_colours(groups))
    return Colouring(groups=[c or "(none)" for c in view.categories], colours=palette)


def cluster_names(clusters: Clustering) -> list[str]:
    names = {c.id: f"{c.id}: {c.label}" for c in clusters.clusters}
    return [names.get(int(c), "outliers") if c != NOISE else "outliers" for c in clusters.labels]


def downloads(view: Bundle, figure: Callable[[], go.Figure], texts, names: list[str] | None = None) -> None:
    """The map's CSV and an offline HTML figure (Plotly, built only when asked for)."""
    csv_col, html_col = st.columns(2)
    csv_col.download_button(f"Map (CSV: coordinates, category, {'cluster, ' if names else ''}text)",
                            lambda: frame_csv(map_frame(view, texts, names)), file_name="map.csv",
                            mime="text/csv", key="map_csv")
    html_col.download_button("Figure (HTML, works offline)", lambda: figure().to_html(include_plotlyjs=True),
                             file_name="map.html", mime="text/html", key="map_html")


def vector_downloads(workspace: Workspace) -> None:
    """The collection's vectors for other tools: Parquet, .npy + JSONL, TensorFlow Projector TSV."""
    with st.expander("Export the vectors (Parquet, .npy, Embedding Projector)"):
        columns = st.columns(3)
        for column, (fmt, label) in zip(columns, [("parquet", "Parquet"), ("npy", ".npy + JSONL (zip)"),
                                                  ("projector", "Projector TSV pair (zip)")]):
            column.download_button(label, lambda fmt=fmt: export_bytes(workspace.collection, fmt)[1],
                                   file_name=f"{workspace.collection.name}-{fmt}" +
                                   (".parquet" if fmt == "parquet" else ".zip"),
                                   key=f"export_{fmt}", on_click="ignore")


def imported_page(view: Bundle) -> None:
    st.info(markdown_text(f"Showing an imported session bundle: collection '{view.collection}', {view.embedder.name}, "
                          f"{len(view.ids):,} points, made {view.created or 'at an unknown time'}. "
                          f"Chunking: {', '.join(view.chunking) or 'not recorded'}."))
    if st.button("Close the imported view", key="map_close_bundle"):
        del st.session_state[BUNDLE_KEY]
        st.session_state.pop(BUNDLE_FILE_KEY, None)
        st.session_state[UPLOADS_KEY] = st.session_state.get(UPLOADS_KEY, 0) + 1
        st.rerun()
    colour = st.selectbox("Colour by", ("category", "source"), key="map_colour_imported")
    fig = map_figure(view, colouring(colour, view, category_colours(view.categories), None, None, None), view.queries)
    st.plotly_chart(fig, width="stretch", key="map_chart_imported")
    downloads(view, lambda: fig, view.texts)
    for query in view.queries:
        st.caption(markdown_text(f"Query “{query.text}” ({query.mode}, top {query.k}): "
                                 f"{len(query.result_ids)} chunks highlighted."))


def filter_controls(workspace: Workspace, points: MapPoints) -> MapFilter:
    """Category, source and metadata filters: they narrow the map, and so every click and selection on it."""
    categories, sources = map_categories(workspace, points), map_sources(workspace, points)
    wanted_categories = st.multiselect("Categories", categories, key="map_filter_categories",
                                       placeholder="all categories")
    shown = shown_sources(sources)  # relative to the folder the files share: no server path in the picker
    wanted_sources = st.multiselect("Sources", sources, key="map_filter_sources", placeholder="all sources",
                                    format_func=shown.get)
    fields = cached_fields(points.fingerprint, points)
    field = st.selectbox("Metadata field", [None, *fields], key="map_filter_field",
                         format_func=lambda f: "(none)" if f is None else f)
    values: list[str] = []
    if field is not None:
        values = st.multiselect(f"Values of {field}", fields[field], key="map_filter_values",
                                placeholder="any value")
    return MapFilter(tuple(wanted_categories), tuple(wanted_sources), field if values else None, tuple(values))


def map_sources(workspace: Workspace, points: MapPoints) -> list[str]:
    if points.sampled:
        return ui.facets(workspace)[1]
    return points.sources.distinct()


def point_details(points: MapPoints, projection: Projection, row: int, names: list[str] | None) -> tuple[int, ...]:
    """The clicked chunk in full and its nearest neighbours in the full space; returns their rows."""
    st.subheader("Clicked point")
    chunks = points.chunks
    assert chunks.embeddings is not None
    metadata = chunks.metadatas[row]
    name = document_label(DocumentKey.of(metadata), shown_sources(points.sources.distinct()))
    st.caption(markdown_text(f"{name} · {metadata.get('category') or 'no category'}"))
    with st.container(height=220, border=False):
        st.text(chunks.texts[row])
    with st.expander("Metadata"):
        st.json({"id": chunks.ids[row], **metadata})
    k = st.slider("Neighbours", 1, *ui.limits().fit("k", 50, 10), key="map_neighbours_k")
    neighbours = nearest_neighbours(chunks.embeddings, projection.coords, row, k, projection.settings.metric,
                                    norms=points.norms)
    st.markdown(f"**Its {len(neighbours)} nearest chunks in the full {chunks.embeddings.shape[1]}-dimensional "
                "space** (ringed on the map). *Rank on the map*: how close each is on this picture; far above "
                f"{len(neighbours)} means the map tore the neighbourhood apart.")
    frame = selection_frame(points, [n.row for n in neighbours], names, ui.policy().shows_server_paths)
    frame.insert(0, "rank on the map", [n.map_rank for n in neighbours])
    frame.insert(0, "similarity" if projection.settings.metric == "cosine" else "minus distance",
                 [n.similarity for n in neighbours])
    st.dataframe(frame.drop(columns=["id"]), hide_index=True, width="stretch", key="map_neighbours",
                 column_config={"text": TEXT_COLUMN, "similarity": st.column_config.NumberColumn(format="%.3f")})
    return tuple(n.row for n in neighbours)


def selection_details(workspace: Workspace, points: MapPoints, rows: tuple[int, ...], names: list[str] | None) -> None:
    """The box/lasso selection as a table (CSV with text and cluster) and a search within it."""
    st.subheader(f"Selected region: {len(rows):,} chunks")
    full_paths = ui.policy().shows_server_paths
    frame = selection_frame(points, rows[:TABLE_ROWS], names, full_paths)
    if len(rows) > TABLE_ROWS:
        st.caption(f"The first {TABLE_ROWS:,} are listed; the CSV holds all {len(rows):,}.")
    st.download_button("Selected chunks (CSV: id, source, category, " + ("cluster, " if names else "") + "text)",
                       lambda: frame_csv(selection_frame(points, rows, names, full_paths)),
                       file_name="map-selection.csv", mime="text/csv", key="map_selection_csv", on_click="ignore")
    query_col, mode_col = st.columns([3, 2])
    query = query_col.text_input("Search within the selection", key="map_within_query",
                                 max_chars=ui.limits().query_chars,
                                 placeholder="ranks only the selected chunks")
    mode = mode_col.selectbox("Mode", MODES, MODES.index(DEFAULT_MODE), key="map_within_mode")
    if query.strip():
        vector = workspace.embedder.embed([query])[0] if mode != "keyword" else None
        found = search_within(points, rows, query, vector, mode, k=10)
        if not found:
            st.info("Nothing in the selection matches.")
        else:
            results = selection_frame(points, [f.row for f in found], names, full_paths).drop(columns=["id"])
            results.insert(0, "score", [f.score for f in found])
            results.insert(0, "rank", [f.rank for f in found])
            st.caption("Ranked among the selected chunks only; BM25's word statistics are those of the selection.")
            st.dataframe(results, hide_index=True, width="stretch", key="map_within_results",
                         column_config={"text": TEXT_COLUMN, "score": st.column_config.NumberColumn(format="%.3f")})
    # The id is for the CSV; on screen it would take the width the text needs.
    st.dataframe(frame.drop(columns=["id"]), hide_index=True, width="stretch", key="map_selection",
                 column_config={"text": TEXT_COLUMN})


def map_labels(points: MapPoints, projection: Projection, clusters: Clustering | None) -> list[MapLabel]:
    """Level 0: the clusters' names when clustered; then regions of the map named by their words,
    finer as the user zooms in."""
    labels: list[MapLabel] = []
    if clusters is not None:
        info = {c.id: c for c in clusters.clusters}
        largest = max((c.size for c in clusters.clusters), default=1)
        labels = [MapLabel(*centre.position[:2], info[centre.id].label, label_size(info[centre.id].size, largest, 0), 0)
                  for centre in cluster_centres(projection.coords, clusters.labels) if info[centre.id].label]
    topics = named_topics(points, projection, 1 if labels else 0)
    return labels + (topics or [])


def side_panel(workspace: Workspace, points: MapPoints, projection: Projection, pick_rows: tuple[int, ...],
               clicked: int | None, region: bool, names: list[str] | None) -> tuple[int, ...]:
    """What the user picked, beside the map; returns the clicked point's neighbours."""
    if clicked is not None:
        return point_details(points, projection, clicked, names)
    if region:
        selection_details(workspace, points, pick_rows, names)
    else:
        st.caption("Click a point for its full text and its nearest neighbours; pick Box or Lasso in the map's "
                   "toolbar and drag for a table of a region. Click a legend entry to hide or show it.")
    return ()


def live_page(workspace: Workspace) -> Bundle | None:
    layout_col, colour_col, filter_col, query_col, phrase_col = st.columns([1.1, 1.3, 1.1, 2.6, 2.0],
                                                                           vertical_alignment="bottom")
    with layout_col.popover("Layout", icon=":material/tune:", width="stretch"):
        settings, cap = settings_controls()
        st.divider()
        k_col, mode_col = st.columns(2)
        k = k_col.number_input("Query: top k", 1, *ui.limits().fit("k", 50, 10), key="map_query_k")
        mode = mode_col.selectbox("Query: mode", MODES, index=MODES.index(DEFAULT_MODE), key="map_query_mode")
        ring_labels = st.checkbox("Ring suspect labels and outliers", key="map_label_rings",
                                  help="The Labels & clusters page's check, by category: documents whose label "
                                       f"their neighbours dispute ringed in red, the {RINGED_OUTLIERS} most isolated "
                                       "in violet. Computed once per version of the collection.")
    ui.url_linked("map_colour", "colour", COLOURS)
    colour = colour_col.selectbox("Colour by", COLOURS, key="map_colour",
                                  help="trust: share of each chunk's 10 nearest neighbours (full space) kept among "
                                       "its 10 nearest on the map. retrieval count: needs queries in the query-set "
                                       "box below the map.")
    query_text = query_col.text_input("Drop a query onto the map", key="map_query", max_chars=ui.limits().query_chars,
                                      placeholder="e.g. a question your documents should answer")
    phrase = phrase_col.text_input("Highlight chunks containing", key="map_phrase", placeholder="a word or phrase")
    try:
        if settings.dims == 3 and cap > PLOTLY_POINTS:
            st.caption(f"The 3-D map shows at most {PLOTLY_POINTS:,} points (a seeded sample beyond).")
            cap = PLOTLY_POINTS
        points = ui.map_points(workspace, cap)
        if points is None:  # a new version's first read: a background job, its bar shown
            return None
        shown = shown_layout(points, settings)
        if shown is None:  # its first PCA layout: a background job too
            return None
        projection, computing = shown
    except ExplorerError as exc:
        st.error(str(exc))
        return None
    with filter_col.popover("Filters", icon=":material/filter_alt:", width="stretch"):
        wanted = filter_controls(workspace, points)
    n = len(points.chunks.ids)
    shown = cached_filter(points.fingerprint, wanted, points) if wanted.active else np.arange(n)
    view = cached_view(points.fingerprint, projection.settings, ui.policy().shows_server_paths, workspace, points,
                       projection)
    categories = map_categories(workspace, points)
    map_col, side_col = st.columns([2.2, 1], gap="medium")
    suspects = outliers = ()
    if ring_labels:
        try:
            edits = LabelEdits(workspace.store.url, workspace.collection.name)
            with side_col:
                rings = label_rings(points, edits)
            if rings is not None:
                suspects, outliers = rings
                side_col.caption(f"Ringed in red: {len(suspects):,} chunks of documents whose label their neighbours "
                                 f"dispute; in violet: {len(outliers):,} chunks of the {RINGED_OUTLIERS} most "
                                 "isolated documents (see Labels & clusters).")
        except ExplorerError as exc:
            side_col.info(f"No labels to ring: {exc}")
    with side_col:
        metric_col = words_col = st.container()
        trust = measured_trust(points, projection)
        if trust is not None:
            metric_col.metric("True neighbours kept on the map", trust.headline(),
                              help=f"Of each chunk's {trust.k} nearest neighbours in the model's space, how many are "
                                   f"also among its {trust.k} nearest on this map (on average).")
            words_col.caption(" ".join(filter(None, [trust.explanation(),
                                                     suggestion(trust, projection.settings.method, computing)])))
        if points.sampled:
            st.caption(f"Showing a random sample of {n:,} of {points.total:,} chunks (raise 'Max points' under "
                       "Layout to map more).")
        if projection.settings != settings and not computing:
            st.caption(f"Adjusted to {n:,} points: {projection.settings.describe()}.")
        if wanted.active:
            st.caption(f"Filters keep {len(shown):,} of {n:,} chunks on the map.")
        query = query_box(workspace, points, projection, query_text, k, mode)
        details = st.container()
    queries = (query,) if query else ()
    below = st.container()
    with below:
        with st.expander("Clusters", expanded=colour == "cluster"):
            clusters = clusters_section(points, len(categories), wanted=colour == "cluster")
        names = cluster_names(clusters) if clusters is not None else None
        with st.expander("Query set: hubs and never-retrieved chunks"):
            counts = query_set_section(workspace, view)
    if colour == "retrieval count" and counts is None:
        words_col.caption("Enter queries in the query-set box below the map to colour by retrieval count.")
    matches = tuple(np.flatnonzero(phrase_matches(points.chunks.texts, phrase)).tolist())
    palette = category_colours(categories)

    def chosen() -> Colouring:
        return colouring(colour, view, palette, trust, clusters, counts)
    files = None
    if projection.settings.dims == 2:
        if not static_serving_on():
            return replace(view, queries=queries)
        found = (group_classes(points.fingerprint, colour, view, palette) if colour in ("category", "source")
                 else classes(chosen(), n))
        files = map_files(projection.coords, shown, found, f"{points.fingerprint}|{projection.settings.key()}")
        labels = map_labels(points, projection, clusters)
        index = {chunk_id: i for i, chunk_id in enumerate(view.ids)} if query else {}
        query_hits = [index[i] for i in query.result_ids if i in index] if query else []

    # A fragment: a click, a box or a lasso reruns only what a pick changes (the side panel and the map's marks),
    # not the whole page; at a million points a full rerun was most of a click's second.
    @st.fragment
    def picked_view() -> None:
        if files is None:
            key = f"{CHART_KEY}_{content_hash(points.fingerprint, projection.settings.key())[:12]}"
            state = st.session_state.get(key)
            pick = chart_pick(state["selection"] if state else None, n)
            pick_rows, clicked, region = pick.rows, pick.clicked, pick.region
        else:
            picked = current_pick(files, SCATTER_KEY)
            pick_rows, clicked, region = picked.rows, picked.clicked, picked.region
        with details:
            if phrase.strip():
                st.caption(f"{len(matches):,} chunks contain “{phrase.strip()}” (drawn in black, the rest faded).")
            neighbours = side_panel(workspace, points, projection, pick_rows, clicked, region, names)
        with map_col:
            if files is None:
                marks = Highlights(focus=clicked, neighbours=neighbours, matches=matches,
                                   rings=(("suspect labels", suspects, SUSPECT_RING),
                                          ("outliers", outliers, OUTLIER_RING)),
                                   match_label=f"contains “{phrase.strip()[:30]}”", labels=tuple(
                                       (centre, {c.id: c for c in clusters.clusters}[centre.id].label)
                                       for centre in cluster_centres(projection.coords, clusters.labels))
                                   if clusters is not None else ())
                fig = map_figure(view, chosen(), queries, marks)
                st.plotly_chart(fig, width="stretch", key=key, on_select="rerun", selection_mode=SELECTION_MODES)
            else:
                scatter_map(files, points.fingerprint, points.chunks.texts,
                            labels=labels, focus=clicked,
                            rings=[(neighbours, RING), (query_hits, RING), (suspects, SUSPECT_RING),
                                   (outliers, OUTLIER_RING)], matches=matches,
                            query=(query.position, query_hits) if query else None,
                            footer=f"{projection.settings.describe()} · {len(shown):,} points", key=SCATTER_KEY)

    picked_view()
    with map_col:
        downloads(view, lambda: map_figure(view, chosen(), queries), points.chunks.texts, names)
    return replace(view, queries=queries)


st.title("Embedding map")
# Drawn only once the points and their layout are there: kept through the runs that wait for a new version's (and
# across visits to other pages), where Streamlit would forget them.
ui.remembered("map_filter_categories", "map_filter_sources", "map_filter_field", "map_filter_values",
              "map_clusters_on", "map_cluster_method", "map_n_clusters", "map_min_cluster_size", "map_query_set",
              "map_query_set_k", "map_query_set_mode")
imported = st.session_state.get(BUNDLE_KEY)
if imported is not None:
    imported_page(imported)
    bundle_section(imported)
else:
    workspace = ui.current_workspace()
    if workspace is None:
        bundle_section(None)
        st.stop()
    bundle_section(live_page(workspace))
    vector_downloads(workspace)
