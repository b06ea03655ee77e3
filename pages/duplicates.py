"""Near-duplicates: chunks that say (almost) the same thing, grouped, with a word diff of any pair."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from core.duplicates import DuplicateReport, find_duplicates, word_diff
from core.errors import ExplorerError
from core.highlight import Segment
from core.types import Filter
from core.workspace import Workspace

st.title("Near-duplicates")
st.caption("Pairs of chunks whose embeddings have a cosine similarity above the threshold, found with the "
           "store's own nearest-neighbour search (k neighbours per chunk, no all-pairs matrix), joined into "
           "groups. Identical texts are always found.")
workspace = ui.current_workspace()
if workspace is None:
    st.stop()


@st.cache_data(show_spinner=False, max_entries=16)
def cached_report(version: tuple[str, str, str], threshold: float, neighbours: int,
                  categories: tuple[str, ...], _workspace: Workspace) -> DuplicateReport:
    with ui.progress_bar("Looking for near-duplicates") as progress:
        return find_duplicates(_workspace.collection, threshold, neighbours,
                               Filter(categories=categories or None), progress)


def short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


categories, _ = ui.facets(workspace)
left, middle, right = st.columns(3)
threshold = left.slider("Cosine threshold", 0.80, 1.00, 0.95, 0.01, key="dup_threshold")
neighbours = middle.number_input("Neighbours per chunk (k)", 1, 50, 5, key="dup_k")
chosen = right.multiselect("Only these categories", categories, key="dup_categories")
st.caption(f"{workspace.collection.count()} chunks in '{workspace.collection.name}'; each asks the store "
           f"for its {int(neighbours)} nearest neighbours (itself skipped).")

try:
    report = cached_report(ui.collection_version(workspace), threshold, int(neighbours), tuple(chosen), workspace)
except ExplorerError as exc:
    st.error(str(exc))
    st.stop()

exact = sum(p.exact for p in report.pairs)
cross = sum(p.cross_source for p in report.pairs)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Chunks scanned", report.chunks_scanned)
c2.metric("Pairs", len(report.pairs))
c3.metric("Identical texts", exact)
c4.metric("Across documents", cross)
if not report.pairs:
    st.success(f"No two chunks are at least {threshold:.2f} similar.")
    st.stop()

st.subheader("Groups")
st.dataframe(pd.DataFrame([{"group": n, "chunks": len(g.chunks), "best similarity": round(g.best, 4),
                            "documents": ", ".join(g.sources), "first chunk": short(g.chunks[0].text)}
                           for n, g in enumerate(report.groups, start=1)]),
             hide_index=True, width="stretch")

st.subheader("Pairs")
pairs = pd.DataFrame([{"pair": n, "similarity": round(p.similarity, 4), "identical": p.exact,
                       "left document": p.a.source, "right document": p.b.source,
                       "left": short(p.a.text, 60), "right": short(p.b.text, 60)}
                      for n, p in enumerate(report.pairs, start=1)])
st.dataframe(pairs, hide_index=True, width="stretch")

number = st.selectbox("Compare pair", range(1, len(report.pairs) + 1), key="dup_pair",
                      format_func=lambda n: f"{n}: {report.pairs[n - 1].a.source} ↔ {report.pairs[n - 1].b.source} "
                                            f"({report.pairs[n - 1].similarity:.3f})")
pair = report.pairs[number - 1]
parts = word_diff(pair.a.text, pair.b.text)
st.caption("Words that differ are highlighted; " + ("the texts are identical." if pair.exact else
                                                    f"{sum(p.op != 'equal' for p in parts)} changed run(s)."))
left_col, right_col = st.columns(2)
for column, chunk, side in ((left_col, pair.a, "left"), (right_col, pair.b, "right")):
    with column:
        st.markdown(f"**{side.title()}**")
        st.text(f"{chunk.source} · chunk {chunk.metadata.get('index', '?')}")
        ui.show_segments([Segment(getattr(p, side), "" if p.op == "equal" else "term") for p in parts
                          if getattr(p, side)], "border:1px solid #ddd;padding:0.5rem;")
