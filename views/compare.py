"""Compare embedders: the current collection's chunks under its own model and a second one, side by side."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from core import compare
from core.compare import DEFAULT_MAX_CHUNKS, EmbedderComparison, compare_embedders, label_separation
from core.documents import DocumentKey
from core.errors import ExplorerError
from core.labels import LabelReport
from core.markup import plotly_text
from core.palette import category_colours
from core.sharing import paid_embedder
from core.types import ProgressCallback
from core.workspace import Workspace

COLOUR_BY = ("category", "neighbour overlap")
COMPARE_JOB, LABELS_JOB = "compare", "compare_labels"  # run on their own threads: leaving the page cancels neither

ui.remembered("compare_model", "compare_k", "compare_max", "compare_colour")  # coming back finds the comparison
st.title("Compare embedders")
st.caption("The same chunks embedded by two models. Each map is its model's own 2-D PCA; the second is rotated "
           "onto the first (orthogonal Procrustes), so matching regions sit in matching places. Neighbour overlap "
           "(Jaccard@k) says, per chunk, how many of its k nearest neighbours both models agree on.")
workspace = ui.current_workspace()
if workspace is None:
    st.stop()


def comparison(version: tuple[str, str, str], model_b: str, k: int, max_chunks: int) -> EmbedderComparison | None:
    """The comparison, by a background job of this session (None while it runs): it goes on when the visitor
    leaves the page, and its result shows on return. B's vectors stay in the disk cache (within its limit)."""
    collection, embedder, cache_dir = workspace.collection, ui.cached_embedder(model_b), compare.COMPARE_CACHE_DIR

    def task(progress: ProgressCallback) -> EmbedderComparison:
        result = compare_embedders(collection, embedder, cache_dir, k, max_chunks, progress)
        ui.bound_cache(cache_dir)
        return result

    return ui.job_result(COMPARE_JOB, (version, model_b, k, max_chunks), f"Embedding with {model_b}", task)


@st.cache_data(show_spinner="Counting what would be sent…", max_entries=8)
def cached_request(version: tuple[str, str, str], model_b: str, max_chunks: int,
                   _workspace: Workspace) -> tuple[int, int]:
    """(chunks, estimated tokens) that comparing with a paid model would send."""
    chunks, _ = compare.sample_chunks(_workspace.collection, max_chunks)
    return len(chunks.texts), sum(ui.cached_embedder(model_b).count_tokens(chunks.texts))


def paid_click(model_b: str, label: str, k: int, max_chunks: int) -> bool:
    """A paid model runs only from a button that says what it sends; True once pressed for these inputs."""
    inputs = (ui.collection_version(workspace), model_b, k, max_chunks)
    chunks, tokens = cached_request(inputs[0], model_b, max_chunks, workspace)
    if st.button(f"Embed {chunks:,} chunks with {label} (sends ~{tokens:,} tokens)", type="primary",
                 key="compare_paid_run"):
        st.session_state["compare_paid_inputs"] = inputs
    if st.session_state.get("compare_paid_inputs") != inputs:
        st.info(f"{label} is a paid service: nothing is sent until you press the button.")
        return False
    return True


model_a = workspace.collection.embedder.name
# Offline models first: the page opens on one, and a paid one runs only from its button.
others = sorted((spec for spec in ui.embedder_choices() if spec.name != model_a), key=lambda s: paid_embedder(s.name))
if not others:
    st.info("No second embedder can run here.")
    st.stop()
limits = ui.limits()
c1, c2, c3 = st.columns(3)
spec = c1.selectbox("Compare with", others, format_func=lambda s: s.label, key="compare_model")
k = int(c2.number_input("Neighbours (k)", 1, *limits.fit("k", 100, 10), key="compare_k"))
max_chunks = int(c3.number_input("At most this many chunks", 50,
                                 *limits.fit("compare_chunks", 20_000, DEFAULT_MAX_CHUNKS), step=500, key="compare_max"))
try:
    if paid_embedder(spec.name) and not paid_click(spec.name, spec.label, k, max_chunks):
        st.stop()
    result = comparison(ui.collection_version(workspace), spec.name, k, max_chunks)
except ExplorerError as exc:
    st.error(str(exc))
    st.stop()
if result is None:
    st.caption("The comparison goes on if you open another page; it shows here when you come back.")
    st.stop()

if result.capped:
    st.caption(f"Compared {len(result.ids)} of {result.total_chunks} chunks, evenly spread over the collection "
               "(raise the limit to take more; embedding takes longer).")
m1, m2, m3 = st.columns(3)
m1.metric(f"Mean neighbour overlap (Jaccard@{k})", f"{result.overall_jaccard:.3f}",
          help="1 = both models give every chunk the same nearest neighbours")
m2.metric("By chance", f"{result.chance_jaccard:.3f}", help="expected overlap of two random neighbour sets")
m3.metric("Map disparity", f"{result.disparity:.3f}", help="Procrustes residual of the unit-size maps: 0 = same "
                                                           "picture, 2 = nothing in common")

# Plotly reads a few HTML tags in legends and hover labels: escaped, every value shows as written.
points = pd.DataFrame({
    "category": [plotly_text(m.get("category", "")) for m in result.metadatas],
    "source": [plotly_text(ui.document_names(workspace)(DocumentKey.of(m))) for m in result.metadatas],
    "overlap": result.jaccard.round(3),
    "text": [plotly_text(" ".join(t.split())[:160]) for t in result.texts],
})
colours = {plotly_text(category): colour for category, colour in category_colours(ui.facets(workspace)[0]).items()}
colour = st.radio("Colour by", COLOUR_BY, horizontal=True, key="compare_colour")
left, right = st.columns(2)
for column, name, xy in ((left, result.model_a, result.a_xy), (right, result.model_b, result.b_xy)):
    frame = points.assign(x=xy[:, 0], y=xy[:, 1])
    figure = px.scatter(frame, x="x", y="y", render_mode="webgl", title=name,
                        color="category" if colour == COLOUR_BY[0] else "overlap",
                        color_continuous_scale="RdYlGn", range_color=[0, 1],
                        color_discrete_map=colours,  # as on every page
                        category_orders={"category": sorted(set(points["category"]))},
                        hover_data={"source": True, "overlap": True, "text": True, "x": False, "y": False})
    figure.update_traces(marker={"size": 5})
    figure.update_layout(xaxis_title=None, yaxis_title=None, legend_title=None, margin={"t": 40})
    column.plotly_chart(figure, width="stretch")

st.subheader("Where the models disagree most")
lowest = points.assign(chunk=result.ids).sort_values("overlap", kind="stable").head(20)
# A table shows plain text: the values as they are, not escaped.
lowest["category"] = [str(result.metadatas[i].get("category", "")) for i in lowest.index]
lowest["source"] = [str(result.metadatas[i].get("source", "")) for i in lowest.index]
lowest["text"] = [" ".join(result.texts[i].split())[:300] for i in lowest.index]
st.dataframe(lowest[["overlap", "category", "source", "text"]], hide_index=True, width="stretch")

# -- Which model separates your labels (the label check of core/labels.py under each model) --------------------


def separation(version: tuple[str, str, str], model_b: str, field: str,
               max_chunks: int) -> tuple[LabelReport, LabelReport] | None:
    """The label check under both models, by a background job of this session (None while it runs)."""
    collection, embedder, cache_dir = workspace.collection, ui.cached_embedder(model_b), compare.COMPARE_CACHE_DIR
    return ui.job_result(LABELS_JOB, (version, model_b, field, max_chunks), "Checking labels under both models",
                         lambda progress: label_separation(collection, embedder, cache_dir, field, max_chunks))


st.subheader("Which model separates your labels")
st.caption("Per label, the share of each chunk's nearest neighbours carrying the same label under each model, and "
           "how many documents each model makes look mislabelled (Labels & clusters has the details).")
try:
    reports = separation(ui.collection_version(workspace), spec.name, "category", max_chunks)
except ExplorerError as exc:
    st.caption(f"No label check: {exc}")
    st.stop()
if reports is None:
    st.stop()
label_a, label_b = reports
s1, s2 = st.columns(2)
s1.metric(f"Suspect documents: {result.model_a}", len(label_a.flagged))
s2.metric(f"Suspect documents: {result.model_b}", len(label_b.flagged))
st.dataframe(pd.DataFrame([{"label": a.label, "chunks": a.chunks, f"agreement {result.model_a}": a.agreement,
                            f"agreement {result.model_b}": b.agreement, f"silhouette {result.model_a}": a.silhouette,
                            f"silhouette {result.model_b}": b.silhouette}
                           for a, b in zip(label_a.stats, label_b.stats)]),
             hide_index=True, width="stretch", key="compare_labels")
