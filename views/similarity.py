"""Similarity: how alike a few texts are to each other, and which chunks of the
current collection are nearest to one of them."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from core.config import DEFAULT_EMBEDDER
from core.embedders import known_embedder
from core.documents import DocumentKey
from core.errors import ExplorerError
from core.markup import plotly_text
from core.similarity import Comparison, compare

EXAMPLES = "Java virtual threads\nJava lightweight concurrency\nPython web scraping"

st.title("Similarity")
st.caption("Cosine similarity of sentence embeddings: 1 = same direction, around 0 = unrelated.")
workspace = ui.current_workspace()
# Typed texts need a model this app runs: beside a vectors-only collection they are compared with the default.
embedder = workspace.embedder if workspace and known_embedder(workspace.embedder.name) \
    else ui.cached_embedder(DEFAULT_EMBEDDER)


@st.cache_data(show_spinner="Embedding…", max_entries=32)
def cached_comparison(embedder_name: str, texts: tuple[str, ...]) -> Comparison:
    return compare(ui.cached_embedder(embedder_name), texts)


def short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


limits = ui.limits()  # Streamlit cuts a value at max_chars on the server, whatever the browser sends
texts = st.text_area("Texts, one per line", value=EXAMPLES, height=140, key="similarity_texts",
                     max_chars=limits.query_chars and limits.query_chars * (limits.similarity_texts or 1))
try:
    limits.check("similarity_texts", len(texts.splitlines()), "texts compared at once")
    comparison = cached_comparison(embedder.name, tuple(texts.splitlines()))
except ExplorerError as exc:
    st.error(str(exc))
    st.stop()
if len(comparison.texts) < 2:
    st.info("Enter at least two different texts, one per line.")
    st.stop()

labels = [f"{n + 1}. {short(t)}" for n, t in enumerate(comparison.texts)]
axis_labels = [plotly_text(label) for label in labels]  # Plotly reads tags in tick labels: shown as written
matrix_column, pairs_column = st.columns([3, 2])
with matrix_column:
    figure = px.imshow(comparison.matrix, x=axis_labels, y=axis_labels, zmin=-1, zmax=1, text_auto=".2f",
                       color_continuous_scale="RdBu_r", title=f"Cosine similarity ({embedder.name})")
    st.plotly_chart(figure, width="stretch")
with pairs_column:
    st.subheader("Pairs, most alike first")
    st.dataframe(pd.DataFrame([{"cosine": round(p.cosine, 3), "text A": comparison.texts[p.first],
                                "text B": comparison.texts[p.second]} for p in comparison.pairs]),
                 hide_index=True, width="stretch")

st.subheader("Nearest chunks in the collection")
if workspace is not None:
    chosen = st.selectbox("Text", range(len(comparison.texts)), format_func=labels.__getitem__, key="nearest_of")
    k = st.slider("How many", 1, 20, 5, key="nearest_k")
    try:
        hits = workspace.collection.vector_search(workspace.embedder.embed([comparison.texts[chosen]])[0], k)
    except ExplorerError as exc:
        st.error(str(exc))
    else:
        st.dataframe(pd.DataFrame([{"rank": h.rank, "cosine": round(h.score, 3), "document": ui.document_names(workspace)(DocumentKey.of(h.metadata)),
                                    "category": h.metadata.get("category", ""), "text": h.text} for h in hits]),
                     hide_index=True, width="stretch")
