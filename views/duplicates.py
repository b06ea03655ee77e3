"""Near-duplicates: chunks that say (almost) the same thing, grouped, with a word diff of any pair."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from core.duplicates import DuplicateReport, find_duplicates, word_diff
from core.errors import ExplorerError
from core.highlight import Segment
from core.markup import markdown_text
from core.types import Filter
from core.workspace import Workspace

LOWEST, HIGHEST, DEFAULT = 0.80, 1.00, 0.95  # the slider's range: one scan at LOWEST serves every position
SHOWN = 2000  # table rows: a big collection can have far more pairs than a page can show
DUPLICATES_JOB = "duplicates"  # runs on its own thread: leaving the page does not cancel it

ui.remembered("dup_threshold", "dup_k", "dup_categories")  # coming back finds the scan
st.title("Near-duplicates")
st.caption(f"Pairs of chunks whose embeddings have a cosine similarity above the threshold, joined into groups. "
           f"One batched pass compares every chunk with every other (a blocked matrix product over the stored "
           f"vectors) at {LOWEST:.2f}, the slider's lowest value; moving the slider only filters that result. "
           "Identical texts are always found.")
workspace = ui.current_workspace()
if workspace is None:
    st.stop()


def scanned(version: tuple[str, str, str], neighbours: int, categories: tuple[str, ...],
            workspace: Workspace) -> DuplicateReport | None:
    """The scan at the slider's lowest value, by a background job of this session (None while it runs): it goes
    on when the visitor leaves the page. Its report can hold 100,000s of pairs and is immutable, so every rerun
    and session asking the same shares one copy. The collection's version is in the key: any write rescans."""
    return ui.job_result(DUPLICATES_JOB, (version, neighbours, categories), "Looking for near-duplicates",
                         lambda progress: find_duplicates(workspace.collection, LOWEST, neighbours,
                                                          Filter(categories=categories or None), progress))


@st.cache_resource(show_spinner=False, max_entries=8)
def filtered(version: tuple[str, str, str], neighbours: int, categories: tuple[str, ...], threshold: float,
             _report: DuplicateReport) -> DuplicateReport:
    return _report.at(threshold)


def short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


categories, _ = ui.facets(workspace)
left, middle, right = st.columns(3)
threshold = left.slider("Cosine threshold", LOWEST, HIGHEST, DEFAULT, 0.01, key="dup_threshold")
neighbours = middle.number_input("Neighbours per chunk (k)", 1, *ui.limits().fit("k", 50, 5), key="dup_k")
chosen = right.multiselect("Only these categories", categories, key="dup_categories")
st.caption(f"{workspace.collection.count()} chunks in '{markdown_text(workspace.collection.name)}'; each keeps its "
           f"{int(neighbours)} most similar partners (identical copies aside).")

try:
    scan = (ui.collection_version(workspace), int(neighbours), tuple(chosen))
    if (full := scanned(*scan, workspace)) is None:
        st.caption("The scan goes on if you open another page; its pairs show here when you come back.")
        st.stop()
    report = filtered(*scan, round(threshold, 2), full)
except ExplorerError as exc:
    st.error(str(exc))
    st.stop()

exact = sum(p.exact for p in report.pairs)
cross = sum(p.cross_document for p in report.pairs)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Chunks scanned", report.chunks_scanned)
c2.metric("Pairs", len(report.pairs))
c3.metric("Identical texts", exact)
c4.metric("Across documents", cross)
if not report.pairs:
    st.success(f"No two chunks are at least {threshold:.2f} similar.")
    st.stop()
name = ui.document_names(workspace)  # file › row id, files relative to the folder they share

st.subheader("Groups")
if len(report.groups) > SHOWN:
    st.caption(f"The {SHOWN:,} largest of {len(report.groups):,} groups.")
st.dataframe(pd.DataFrame([{"group": n, "chunks": len(g.chunks), "best similarity": round(g.best, 4),
                            "documents": ", ".join(name(d) for d in g.documents), "first chunk": short(g.chunks[0].text)}
                           for n, g in enumerate(report.groups[:SHOWN], start=1)]),
             hide_index=True, width="stretch")

st.subheader("Pairs")
if len(report.pairs) > SHOWN:
    st.caption(f"The {SHOWN:,} most similar of {len(report.pairs):,} pairs.")
pairs = pd.DataFrame([{"pair": n, "similarity": round(p.similarity, 4), "identical": p.exact,
                       "left document": name(p.a.document), "right document": name(p.b.document),
                       "left": short(p.a.text, 60), "right": short(p.b.text, 60)}
                      for n, p in enumerate(report.pairs[:SHOWN], start=1)])
st.dataframe(pairs, hide_index=True, width="stretch")

number = st.selectbox("Compare pair", range(1, min(len(report.pairs), SHOWN) + 1), key="dup_pair",
                      format_func=lambda n: f"{n}: {name(report.pairs[n - 1].a.document)} ↔ "
                                            f"{name(report.pairs[n - 1].b.document)} "
                                            f"({report.pairs[n - 1].similarity:.3f})")
pair = report.pairs[number - 1]
parts = word_diff(pair.a.text, pair.b.text)
st.caption("Words that differ are highlighted; " + ("the texts are identical." if pair.exact else
                                                    f"{sum(p.op != 'equal' for p in parts)} changed run(s)."))
left_col, right_col = st.columns(2)
for column, chunk, side in ((left_col, pair.a, "left"), (right_col, pair.b, "right")):
    with column:
        st.markdown(f"**{side.title()}**")
        st.text(f"{name(chunk.document)} · chunk {chunk.metadata.get('index', '?')}")
        ui.show_segments([Segment(getattr(p, side), "" if p.op == "equal" else "term") for p in parts
                          if getattr(p, side)], "border:1px solid #ddd;padding:0.5rem;")
