"""The map as a Plotly figure (WebGL in 2-D): colours, highlights, query markers, cluster labels.

Everything the browser gets per point is its position, its row (customdata, so
a click or a selection names the row whatever trace it hit) and a short escaped
hover preview; full text, source and metadata are fetched on click. Colours
come from `core.palette`, so a category looks the same here as on every page.
What the user points at is drawn in black on top: the query (a star), the
clicked point and its neighbours in the full space (rings), the phrase-filter hits.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .bundle import Bundle, BundleQuery
from .map_explore import ClusterCentre, hover_texts
from .palette import HIGHLIGHT, MUTED, category_colours

MAX_LEGEND_GROUPS = 20  # more groups than this: the rest are drawn as one "other" group
RETRIEVED_TICKS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


@dataclass(frozen=True)
class Colouring:
    """How points are coloured: by group (categorical), by a 0..1 value (NaN: not measured),
    or by retrieval counts (log colour and size; 0 = never retrieved, drawn muted)."""

    groups: list[str] | None = None
    colours: dict[str, str] = field(default_factory=dict)  # group -> colour (palette), others get defaults
    values: np.ndarray | None = None
    value_label: str = ""
    counts: np.ndarray | None = None


@dataclass(frozen=True)
class Highlights:
    focus: int | None = None  # the clicked row
    neighbours: tuple[int, ...] = ()  # its nearest rows in the full space
    matches: tuple[int, ...] = ()  # rows whose text contains the filter phrase
    match_label: str = ""
    labels: tuple[tuple[ClusterCentre, str], ...] = ()  # cluster label text at each centre


def _axes(view: Bundle, rows: np.ndarray) -> dict:
    coords = view.coords[rows]
    axes = dict(x=coords[:, 0], y=coords[:, 1])
    if view.projection.dims == 3:
        axes["z"] = coords[:, 2]
    return axes


def point_size(n: int, dims: int) -> float:
    """Markers shrink as the map fills: 7 px for a few hundred points, 2.5 px at 100,000 (2-D)."""
    size = float(np.clip(10.5 - 1.6 * np.log10(max(n, 1)), 2.5, 7.0))
    return size if dims == 2 else size * 0.6


def _points(view: Bundle, rows: np.ndarray, hover: np.ndarray, name: str, **marker) -> dict:
    """One trace's worth of points: positions, rows as customdata, hover preview."""
    return dict(**_axes(view, rows), mode="markers", name=name, customdata=rows.astype(np.int32),
                hovertext=hover[rows], hovertemplate="<b>%{fullData.name}</b><br>%{hovertext}<extra></extra>",
                marker={"size": point_size(len(view.ids), view.projection.dims), **marker})


def _base_traces(view: Bundle, colouring: Colouring, hover: np.ndarray, dim: bool) -> list[dict]:
    n = len(view.ids)
    fade = 0.25 if dim else 0.8
    if colouring.counts is not None:
        counts = colouring.counts
        never, hit = np.flatnonzero(counts == 0), np.flatnonzero(counts > 0)
        traces = [_points(view, never, hover, "never retrieved", color=MUTED, opacity=0.35 * (fade / 0.8))]
        if len(hit):
            top = int(counts.max())
            ticks = [t for t in RETRIEVED_TICKS if t <= top] or [1]
            traces.append(_points(
                view, hit, hover, "retrieved", size=np.clip(5 + 2 * np.log2(counts[hit]), 5, 16),
                color=np.log10(counts[hit]), colorscale="Plasma", cmin=0, cmax=max(np.log10(top), 0.3),
                opacity=fade, colorbar=dict(title="times retrieved", tickvals=np.log10(ticks).tolist(),
                                            ticktext=[str(t) for t in ticks])))
        return traces
    if colouring.values is not None:
        values = colouring.values
        measured = np.flatnonzero(~np.isnan(values))
        unmeasured = np.flatnonzero(np.isnan(values))
        traces = []
        if len(unmeasured):
            traces.append(_points(view, unmeasured, hover, "not measured", color=MUTED, opacity=0.3))
        traces.append(_points(view, measured, hover, colouring.value_label, color=values[measured],
                              colorscale="Viridis", cmin=0, cmax=1, showscale=True, opacity=fade,
                              colorbar=dict(title=colouring.value_label)))
        return traces
    groups = colouring.groups if colouring.groups is not None else ["(none)"] * n
    common = [g for g, _ in pd.Series(groups).value_counts().items()][:MAX_LEGEND_GROUPS]
    shown = np.array([g if g in common else "other" for g in groups], dtype=object)
    colours = {**category_colours(shown), **colouring.colours}
    traces = []
    for group in sorted(set(shown), key=lambda g: (g in ("other", "(none)", "outliers"), g)):
        rows = np.flatnonzero(shown == group)
        traces.append(_points(view, rows, hover, group or "(none)", color=colours.get(group, MUTED), opacity=fade))
    return traces


def _query_traces(view: Bundle, query: BundleQuery, hover: np.ndarray) -> list[dict]:
    index = {chunk_id: i for i, chunk_id in enumerate(view.ids)}
    hits = np.array([index[i] for i in query.result_ids if i in index], dtype=int)
    position = np.array(query.position)
    dims = view.projection.dims
    traces = []
    if len(hits):
        ends = view.coords[hits]
        path = np.full((3 * len(hits), dims), np.nan)
        path[0::3], path[1::3] = position, ends
        traces.append(dict(x=path[:, 0], y=path[:, 1], **({"z": path[:, 2]} if dims == 3 else {}), mode="lines",
                           line=dict(color=HIGHLIGHT, width=1), opacity=0.6, hoverinfo="skip", showlegend=False))
        traces.append(_points(view, hits, hover, "retrieved", size=12, color="rgba(0,0,0,0)",
                              line=dict(color=HIGHLIGHT, width=2)))
    point = dict(x=[position[0]], y=[position[1]], **({"z": [position[2]]} if dims == 3 else {}))
    traces.append(dict(**point, mode="markers", name=f"query: {query.text[:40]}",
                       # Plotly's 3-D markers have no star.
                       marker=dict(symbol="star" if dims == 2 else "diamond", size=22, color="#ffd400",
                                   line=dict(color=HIGHLIGHT, width=2)),
                       hovertext=[html.escape(query.text, quote=False)], hovertemplate="%{hovertext}<extra>query</extra>"))
    return traces


def _highlight_traces(view: Bundle, marks: Highlights, hover: np.ndarray) -> list[dict]:
    traces = []
    if marks.matches:
        traces.append(_points(view, np.array(marks.matches), hover, marks.match_label or "text matches", size=8,
                              color=HIGHLIGHT, opacity=0.9))
    if marks.neighbours:
        traces.append(_points(view, np.array(marks.neighbours), hover, "nearest in the full space", size=13,
                              color="rgba(0,0,0,0)", line=dict(color=HIGHLIGHT, width=2.5)))
    if marks.focus is not None:
        traces.append(_points(view, np.array([marks.focus]), hover, "clicked", symbol="diamond", size=16,
                              color="#ffd400", line=dict(color=HIGHLIGHT, width=2)))
    return traces


def map_figure(view: Bundle, colouring: Colouring, queries: tuple[BundleQuery, ...] = (),
               marks: Highlights = Highlights(), height: int = 680) -> go.Figure:
    """The map: base points (dimmed while a phrase filter highlights some), then highlights,
    query markers and cluster labels on top."""
    scatter = go.Scattergl if view.projection.dims == 2 else go.Scatter3d
    hover = hover_texts(view.texts)
    fig = go.Figure()
    traces = _base_traces(view, colouring, hover, dim=bool(marks.matches)) + _highlight_traces(view, marks, hover)
    for query in queries:
        traces += _query_traces(view, query, hover)
    for trace in traces:
        fig.add_trace(scatter(**trace))
    if marks.labels:
        dims = view.projection.dims
        centres = np.array([c.position for c, _ in marks.labels])
        label_trace = dict(x=centres[:, 0], y=centres[:, 1], **({"z": centres[:, 2]} if dims == 3 else {}),
                           mode="text", text=[html.escape(text, quote=False) for _, text in marks.labels],
                           textfont=dict(size=13, color=HIGHLIGHT), hoverinfo="skip", name="cluster labels")
        # Text traces in WebGL are not drawn over the markers everywhere; SVG text is, and is few points.
        fig.add_trace((go.Scatter if dims == 2 else go.Scatter3d)(**label_trace))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=30, b=0), legend=dict(itemsizing="constant"),
                      title=view.projection.describe())
    return fig
