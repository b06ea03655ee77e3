"""Embedding map: the collection projected to 2-D/3-D (PCA, t-SNE, UMAP), coloured by
category, source, cluster, neighbourhood trust or retrieval count, with a query
dropped onto the map and session bundles to replay a view without recomputing it."""
from __future__ import annotations

import html
import io
import textwrap
from dataclasses import replace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import ui
from core.bundle import Bundle, BundleQuery, from_json, map_bundle, to_json
from core.clusters import CLUSTER_METHODS, NOISE, ClusterSettings, Clustering, cluster
from core.errors import ExplorerError
from core.projection import (DEFAULT_SAMPLE_CAP, METHOD_LABELS, METHODS, METRICS, MapPoints, Projection,
                             ProjectionSettings, load_points, place_queries, project)
from core.retrieval_counts import RetrievalCounts, query_lines, retrieval_counts
from core.search import DEFAULT_MODE, MODES, search
from core.trust import DEFAULT_K, Trust, neighbourhood_preservation
from core.workspace import Workspace

BUNDLE_KEY, BUNDLE_FILE_KEY, UPLOADS_KEY = "map_bundle", "map_bundle_file", "map_bundle_uploads"
COLOURS = ("category", "source", "cluster", "trust", "retrieval count")
MAX_LEGEND_GROUPS = 20  # more sources than this: the rest are drawn as one "other" group
D = ProjectionSettings()


# -- cached computations: keyed by what they depend on, heavy inputs passed unhashed. Each makes
# its own progress bar: Streamlit replays elements created inside a cached function on a cache hit.

@st.cache_resource(show_spinner=False, max_entries=2)
def cached_points(version: tuple, cap: int, _workspace: Workspace) -> MapPoints:
    with ui.progress_bar("Reading vectors") as progress:
        return load_points(_workspace.collection, cap, progress=progress)


@st.cache_data(show_spinner=False, max_entries=16)
def cached_projection(fingerprint: str, settings: ProjectionSettings, _points: MapPoints) -> Projection:
    with ui.progress_bar(f"Computing the {METHOD_LABELS[settings.method]} map") as progress:
        return project(_points.chunks.embeddings, settings, progress, data_key=fingerprint)


@st.cache_data(show_spinner="Measuring neighbourhood preservation…", max_entries=16)
def cached_trust(fingerprint: str, settings: ProjectionSettings, _points: MapPoints, _coords: np.ndarray) -> Trust:
    return neighbourhood_preservation(_points.chunks.embeddings, _coords, DEFAULT_K, settings.metric)


@st.cache_data(show_spinner="Clustering…", max_entries=8)
def cached_clusters(fingerprint: str, settings: ClusterSettings, _points: MapPoints) -> Clustering:
    categories = [str(m.get("category") or "") or None for m in _points.chunks.metadatas]
    return cluster(_points.chunks.embeddings, _points.chunks.texts, categories, settings)


@st.cache_data(show_spinner=False, max_entries=8)
def cached_counts(version: tuple, queries: tuple[str, ...], k: int, mode: str,
                  _workspace: Workspace) -> RetrievalCounts:
    with ui.progress_bar("Running the queries") as progress:
        return retrieval_counts(_workspace.collection, _workspace.embedder, queries, k=k, mode=mode, progress=progress)


# -- drawing -----------------------------------------------------------------------------

def hover_text(view: Bundle) -> list[str]:
    """Escaped source, category and wrapped preview per point: document text never becomes markup."""
    out = []
    for source, category, text in zip(view.sources, view.categories, view.texts):
        lines = textwrap.wrap(" ".join(text.split()), 70) or [""]
        body = "<br>".join(html.escape(line, quote=False) for line in lines)
        label = html.escape(f"{source} · {category or 'no category'}", quote=False)
        out.append(f"<b>{label}</b><br>{body}")
    return out


def _trace(view: Bundle, rows: np.ndarray, hover: list[str], **marker) -> dict:
    coords = view.coords[rows]
    axes = dict(x=coords[:, 0], y=coords[:, 1])
    if view.projection.dims == 3:
        axes["z"] = coords[:, 2]
    return dict(**axes, mode="markers", hovertext=[hover[i] for i in rows], hovertemplate="%{hovertext}<extra></extra>",
                marker={"size": 4 if view.projection.dims == 2 else 2.5, **marker})


def figure(view: Bundle, groups: list[str] | None, values: np.ndarray | None, value_label: str,
           queries: tuple[BundleQuery, ...]) -> go.Figure:
    """One WebGL trace per group (categorical colours) or one trace with a colour scale (numeric values)."""
    scatter = go.Scattergl if view.projection.dims == 2 else go.Scatter3d
    hover = hover_text(view)
    fig = go.Figure()
    if values is not None:
        fig.add_trace(scatter(**_trace(view, np.arange(len(view.ids)), hover, color=values, colorscale="Viridis",
                                       showscale=True, colorbar=dict(title=value_label)), name=value_label))
    else:
        assert groups is not None
        common = [g for g, _ in pd.Series(groups).value_counts().items()][:MAX_LEGEND_GROUPS]
        shown = [g if g in common else "other" for g in groups]
        for group in sorted(set(shown), key=lambda g: (g == "other", g)):
            rows = np.flatnonzero(np.array(shown) == group)
            fig.add_trace(scatter(**_trace(view, rows, hover, opacity=0.75), name=group or "(none)"))
    index = {chunk_id: i for i, chunk_id in enumerate(view.ids)}
    for query in queries:
        hits = np.array([index[i] for i in query.result_ids if i in index], dtype=int)
        position = np.array(query.position)
        if len(hits):
            ends = view.coords[hits]
            path = np.full((3 * len(hits), view.projection.dims), np.nan)
            path[0::3], path[1::3] = position, ends
            line = dict(x=path[:, 0], y=path[:, 1], **({"z": path[:, 2]} if view.projection.dims == 3 else {}))
            fig.add_trace(scatter(**line, mode="lines", line=dict(color="crimson", width=1), hoverinfo="skip",
                                  showlegend=False))
            fig.add_trace(scatter(**_trace(view, hits, hover, color="rgba(0,0,0,0)", size=11,
                                           line=dict(color="crimson", width=2)), name="retrieved"))
        point = dict(x=[position[0]], y=[position[1]], **({"z": [position[2]]} if view.projection.dims == 3 else {}))
        fig.add_trace(scatter(**point, mode="markers", marker=dict(symbol="x", size=14, color="crimson"),
                              name=f"query: {query.text[:40]}", hovertext=[html.escape(query.text, quote=False)],
                              hovertemplate="%{hovertext}<extra>query</extra>"))
    fig.update_layout(height=680, margin=dict(l=0, r=0, t=30, b=0), legend=dict(itemsizing="constant"),
                      title=view.projection.describe())
    return fig


def coordinates_csv(view: Bundle) -> bytes:
    axes = ["x", "y", "z"][:view.projection.dims]
    frame = pd.DataFrame(view.coords, columns=axes)
    frame.insert(0, "id", view.ids)
    frame["category"], frame["source"] = view.categories, view.sources
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


# -- the page ----------------------------------------------------------------------------

def settings_controls() -> tuple[ProjectionSettings, int]:
    method_col, dims_col, metric_col, seed_col, cap_col = st.columns(5)
    method = method_col.selectbox("Method", METHODS, format_func=METHOD_LABELS.get, key="map_method",
                                  help="PCA: fast, linear, keeps global layout. t-SNE and UMAP: keep local "
                                       "neighbourhoods, distances between far clusters mean little.")
    dims = dims_col.radio("Dimensions", (2, 3), horizontal=True, key="map_dims")
    metric = metric_col.selectbox("Metric", METRICS, key="map_metric")
    seed = seed_col.number_input("Seed", 0, 2**31 - 1, D.seed, key="map_seed", disabled=method != "umap",
                                help="UMAP only: PCA and t-SNE (started from PCA) give the same map every time.")
    cap = cap_col.number_input("Max points", 100, 200_000, DEFAULT_SAMPLE_CAP, step=1000, key="map_cap",
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
    st.subheader("Clusters")
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
    result = cached_clusters(points.fingerprint, settings, points)
    if result.purity is not None:
        st.metric("Cluster purity (share in each cluster's top category)", f"{result.purity:.0%}")
    if result.noise:
        st.caption(f"{result.noise:,} chunks are outliers HDBSCAN left unclustered.")
    st.dataframe(pd.DataFrame([{"cluster": c.id, "label (c-TF-IDF terms)": ", ".join(c.terms), "size": c.size,
                                "top category": c.top_category, "purity": c.purity} for c in result.clusters]),
                 hide_index=True, column_config={"purity": st.column_config.NumberColumn(format="percent")})
    return result


def query_set_section(workspace: Workspace, view: Bundle) -> RetrievalCounts | None:
    st.subheader("Query set: hubs and never-retrieved chunks")
    text = st.text_area("Queries, one per line", key="map_query_set", height=120,
                        help="Each query is run at k; the map can then be coloured by how often each chunk came back.")
    k_col, mode_col = st.columns(2)
    k = k_col.slider("k per query", 1, 50, 10, key="map_query_set_k")
    mode = mode_col.selectbox("Search mode", MODES, index=MODES.index(DEFAULT_MODE), key="map_query_set_mode")
    queries = tuple(query_lines(text))
    if not queries:
        return None
    counts = cached_counts(ui.collection_version(workspace), queries, k, mode, workspace)
    never = counts.never_retrieved(view.ids)
    left, right = st.columns(2)
    left.metric("Queries run", counts.queries)
    right.metric("Mapped chunks never retrieved", f"{len(never):,} of {len(view.ids):,}")
    index = {chunk_id: i for i, chunk_id in enumerate(view.ids)}
    hubs = [{"times retrieved": n, "share of queries": n / counts.queries,
             "source": view.sources[index[i]] if i in index else "(not on the map)",
             "text": view.texts[index[i]] if i in index else ""} for i, n in counts.hubs(15)]
    st.dataframe(pd.DataFrame(hubs), hide_index=True,
                 column_config={"share of queries": st.column_config.NumberColumn(format="percent")})
    return counts


def bundle_section(view: Bundle | None) -> None:
    with st.expander("Session bundle: save or restore this view"):
        st.caption("One JSON file with the collection, embedder, chunk and projection settings, every point's "
                   "position and the queries shown, so a demo replays without recomputing.")
        if view is not None:
            st.download_button("Download session bundle", lambda: to_json(view), file_name="map-session.json",
                               mime="application/json", key="map_bundle_download")
        # A fresh key per closed bundle empties the uploader, so closing does not re-open the same file.
        upload = st.file_uploader("Open a session bundle", type=["json"],
                                  key=f"map_bundle_upload_{st.session_state.get(UPLOADS_KEY, 0)}")
        if upload is not None and upload.file_id != st.session_state.get(BUNDLE_FILE_KEY):
            try:
                st.session_state[BUNDLE_KEY] = from_json(upload.getvalue())
            except ExplorerError as exc:
                st.error(str(exc))
                return
            st.session_state[BUNDLE_FILE_KEY] = upload.file_id
            st.rerun()


def live_query(workspace: Workspace, points: MapPoints, projection: Projection) -> BundleQuery | None:
    query_col, k_col, mode_col = st.columns([4, 1, 1])
    query = query_col.text_input("Drop a query onto the map", key="map_query",
                                 placeholder="e.g. a question your documents should answer")
    k = k_col.number_input("Top k", 1, 50, 10, key="map_query_k")
    mode = mode_col.selectbox("Mode", MODES, index=MODES.index(DEFAULT_MODE), key="map_query_mode")
    if not query.strip():
        return None
    results = search(workspace.collection, workspace.embedder, query, mode=mode, k=int(k))
    vector = workspace.embedder.embed([query])
    position = place_queries(vector, points.chunks.embeddings, projection, k=int(k))[0]
    if projection.mean is None:
        st.caption(f"{METHOD_LABELS[projection.settings.method]} cannot place new points exactly: the query (✕) "
                   f"sits at the similarity-weighted mean of its {int(k)} nearest mapped chunks' positions.")
    on_map = set(points.chunks.ids)
    missing = sum(r.id not in on_map for r in results)
    if missing:
        st.caption(f"{missing} of the {len(results)} retrieved chunks are not in the mapped sample.")
    return BundleQuery(query, mode, int(k), tuple(float(v) for v in position), tuple(r.id for r in results))


def colour_values(colour: str, view: Bundle, trust: Trust | None, clusters: Clustering | None,
                  counts: RetrievalCounts | None) -> tuple[list[str] | None, np.ndarray | None, str]:
    if colour == "trust" and trust is not None:
        return None, trust.per_point, f"neighbours kept (k={trust.k})"
    if colour == "retrieval count" and counts is not None:
        return None, np.array([counts.count(i) for i in view.ids]), "times retrieved"
    if colour == "cluster" and clusters is not None:
        names = {c.id: f"{c.id}: {c.label}" for c in clusters.clusters}
        return [names.get(int(c), "outliers") if c != NOISE else "outliers" for c in clusters.labels], None, ""
    if colour == "source":
        return list(view.sources), None, ""
    return [c or "(none)" for c in view.categories], None, ""


def show_map(view: Bundle, colour: str, trust: Trust | None, clusters: Clustering | None,
             counts: RetrievalCounts | None, queries: tuple[BundleQuery, ...]) -> None:
    groups, values, label = colour_values(colour, view, trust, clusters, counts)
    fig = figure(view, groups, values, label, queries)
    st.plotly_chart(fig, width="stretch", key="map_chart")
    csv_col, html_col = st.columns(2)
    csv_col.download_button("Coordinates (CSV)", lambda: coordinates_csv(view), file_name="map-coordinates.csv",
                            mime="text/csv", key="map_csv")
    html_col.download_button("Figure (HTML, works offline)", lambda: fig.to_html(include_plotlyjs=True),
                             file_name="map.html", mime="text/html", key="map_html")


def imported_page(view: Bundle) -> None:
    st.info(f"Showing an imported session bundle: collection '{view.collection}', {view.embedder.name}, "
            f"{len(view.ids):,} points, made {view.created or 'at an unknown time'}. "
            f"Chunking: {', '.join(view.chunking) or 'not recorded'}.")
    if st.button("Close the imported view", key="map_close_bundle"):
        del st.session_state[BUNDLE_KEY]
        st.session_state.pop(BUNDLE_FILE_KEY, None)
        st.session_state[UPLOADS_KEY] = st.session_state.get(UPLOADS_KEY, 0) + 1
        st.rerun()
    colour = st.selectbox("Colour by", ("category", "source"), key="map_colour_imported")
    show_map(view, colour, None, None, None, view.queries)
    for query in view.queries:
        st.caption(f"Query “{query.text}” ({query.mode}, top {query.k}): "
                   f"{len(query.result_ids)} chunks highlighted.")


def live_page(workspace: Workspace) -> Bundle | None:
    settings, cap = settings_controls()
    colour = st.selectbox("Colour by", COLOURS, key="map_colour",
                          help="trust: share of each chunk's 10 nearest neighbours (full space) kept among its 10 "
                               "nearest on the map. retrieval count: needs queries in the query-set box below.")
    try:
        points = cached_points(ui.collection_version(workspace), cap, workspace)
        projection = cached_projection(points.fingerprint, settings, points)
    except ExplorerError as exc:
        st.error(str(exc))
        return None
    if points.sampled:
        st.caption(f"Showing a random sample of {len(points.chunks.ids):,} of {points.total:,} chunks "
                   "(raise 'Max points' to map more).")
    if projection.settings != settings:
        st.caption(f"Adjusted to {len(points.chunks.ids):,} points: {projection.settings.describe()}.")
    trust = cached_trust(points.fingerprint, projection.settings, points, projection.coords)
    query = live_query(workspace, points, projection)
    metric_col, query_col = st.columns(2)
    metric_col.metric(f"Neighbourhood preserved (k={trust.k})", f"{trust.mean:.0%}",
                      help="Mean share of each chunk's nearest neighbours in the full space that are also its "
                           "nearest on the map. Low: do not read closeness on this map too literally.")
    view = map_bundle(workspace.collection.name, workspace.collection.embedder, points, projection)
    queries = (query,) if query else ()
    chart = st.container()
    counts_holder = st.container()
    categories = {c for c in view.categories if c}
    clusters = clusters_section(points, len(categories), wanted=colour == "cluster")
    with counts_holder:
        counts = query_set_section(workspace, view)
    if colour == "retrieval count" and counts is None:
        query_col.caption("Enter queries in the query-set box below to colour by retrieval count.")
    with chart:
        show_map(view, colour, trust, clusters, counts, queries)
    return replace(view, queries=queries)


st.title("Embedding map")
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
