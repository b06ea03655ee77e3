"""Labels & clusters: which labels bleed into which, which documents look mislabelled, outliers, and
fixing labels in this tool's own overlay (never in the store)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

import ui
from core.bundle import map_bundle
from core.errors import ExplorerError
from core.label_edits import LabelEdits, Target
from core.labels import (DEFAULT_K, DEFAULT_THRESHOLD, RINGED_OUTLIERS, LabelReport, check_points, document_names,
                         label_values)
from core.map_explore import chart_pick, frame_csv
from core.map_figure import Colouring, Highlights, map_figure
from core.palette import OUTLIER_RING, SUSPECT_RING, category_colours
from core.projection import DEFAULT_SAMPLE_CAP, MapPoints
from core.workspace import Workspace

CHART_KEY = "labels_map"
CONFUSION_KEY = "labels_confusion"
SUSPECTS_KEY = "labels_suspects"
SHOWN = 500  # rows of the suspect and outlier tables
TEXT_COLUMN = st.column_config.TextColumn("text", width="large")
LABELS_JOB = "labels"  # runs on its own thread: leaving the page does not cancel it
HIDDEN_FIELDS = {"source", "row", "document", "chunking", "start", "end", "index"}  # identity and offsets, not labels

ui.remembered("labels_field", "labels_k", "labels_threshold")  # coming back finds the check
st.title("Labels & clusters")
st.caption("Each chunk's nearest neighbours (cosine, in the full space) and a linear model fitted without its "
           "document vote on its label. Per label: how many neighbours share it, on the map too; which labels "
           "bleed into which; clusters found without the labels against them; documents whose label looks wrong; "
           "outliers. New labels and tags are kept by this tool beside the data, never written into the store; "
           "the next check uses them.")
workspace = ui.current_workspace()
if workspace is None:
    st.stop()


def report_of(field: str, k: int, points: MapPoints, coords: np.ndarray, edits: LabelEdits) -> LabelReport | None:
    """The label check, by a background job of this session (None while it runs): it goes on when the visitor
    leaves the page, and its report shows on return. Keyed by the collection (two with the same vectors can carry
    other labels) and the overlay's version: every edit makes a new check."""
    inputs = (ui.collection_version(workspace), points.fingerprint, field, k, edits.version())
    return ui.job_result(LABELS_JOB, inputs, f"Checking '{field}' labels",
                         lambda progress: check_points(points, coords, field, edits, k, progress=progress))


def label_fields(points: MapPoints) -> list[str]:
    seen: dict[str, None] = {"category": None}
    for metadata in points.chunks.metadatas[:2000]:
        seen.update({key: None for key in metadata if key not in HIDDEN_FIELDS})
    return list(seen)


def short(text: str, width: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


try:
    cap = ui.limits().bound("map_points", DEFAULT_SAMPLE_CAP)
    points = ui.map_points(workspace, cap)
    if points is None:  # a new version's first read: a background job, its bar shown
        st.stop()
    projection = ui.pca_layout(points)
    if projection is None:  # its first PCA layout: a background job too
        st.stop()
except ExplorerError as exc:
    st.error(str(exc))
    st.stop()
if points.sampled:
    st.caption(f"Checking a random sample of {len(points.chunks.ids):,} of {points.total:,} chunks.")

left, middle, right = st.columns(3)
field = left.selectbox("Label field", label_fields(points), key="labels_field",
                       help="Any metadata field works; the category is the one set at ingest.")
k = int(middle.number_input("Neighbours (k)", 2, *ui.limits().fit("k", 100, DEFAULT_K), key="labels_k"))
threshold = right.slider("Suspect above", 0.0, 1.0, DEFAULT_THRESHOLD, 0.05, key="labels_threshold",
                         help="A document is suspect when 1 - the probability of its own label is above this: "
                              "at 0.5, its label gets less than half.")
edits = LabelEdits(workspace.store.url, workspace.collection.name)
try:
    checked = report_of(field, k, points, projection.coords, edits)
except ExplorerError as exc:
    st.error(str(exc))
    st.stop()
if checked is None:
    st.caption("The check goes on if you open another page; its report shows here when you come back.")
    st.stop()
report = replace(checked, threshold=threshold)

flagged = report.flagged
m1, m2, m3, m4 = st.columns(4)
m1.metric("Labels", len(report.labels))
m2.metric("Suspect documents", f"{len(flagged):,}")
m3.metric("Clusters vs labels: ARI", f"{report.ari:.3f}",
          help="adjusted Rand index of k-means clusters (as many as labels) against the labels: 1 = the same "
               "partition, 0 = chance")
m4.metric("NMI", f"{report.nmi:.3f}", help="normalised mutual information of the same: 1 = the same partition")
notes = []
if report.unlabelled:
    notes.append(f"{report.unlabelled:,} chunks have no '{field}' and are left out")
if report.unjudged:
    notes.append(f"{report.unjudged:,} documents carry a label no other document has, so nothing can judge them")
if notes:
    st.caption("; ".join(notes) + ".")

st.subheader("Per label")
st.dataframe(pd.DataFrame([{"label": s.label, "chunks": s.chunks, "documents": s.documents,
                            f"neighbours agreeing (k={report.k})": s.agreement, "on the map": s.map_agreement,
                            "silhouette": s.silhouette} for s in report.stats]),
             hide_index=True, width="stretch",
             column_config={f"neighbours agreeing (k={report.k})": st.column_config.NumberColumn(format="percent"),
                            "on the map": st.column_config.NumberColumn(format="percent"),
                            "silhouette": st.column_config.NumberColumn(format="%.3f")})

st.subheader("Which labels bleed into which")
st.caption("Rows: a chunk's label; columns: the label most of its neighbours carry. Click a cell to select its "
           "chunks on the map and in the table below.")
confusion = pd.DataFrame(report.confusion, index=list(report.labels), columns=list(report.labels))
confusion_event = st.dataframe(confusion, width="stretch", key=CONFUSION_KEY, on_select="rerun",
                               selection_mode="single-cell")

st.subheader(f"Suspect labels: {len(flagged):,} documents")
suspects = pd.DataFrame([{"document": s.document, "label": s.label, "suggested": s.suggested, "score": s.score,
                          "text": short(points.chunks.texts[s.rows[0]])} for s in flagged[:SHOWN]],
                        columns=["document", "label", "suggested", "score", "text"])
suspect_event = st.dataframe(suspects, hide_index=True, width="stretch", key=SUSPECTS_KEY, on_select="rerun",
                             selection_mode="multi-row",
                             column_config={"score": st.column_config.NumberColumn(format="%.3f"), "text": TEXT_COLUMN})
st.download_button("Suspects (CSV: document, label, suggested, score)",
                   frame_csv(pd.DataFrame([(s.document, s.label, s.suggested, round(s.score, 4)) for s in flagged],
                                          columns=["document", "label", "suggested", "score"])),
                   file_name="suspect-labels.csv", mime="text/csv", key="labels_suspects_csv")

# What is selected: a confusion cell, else suspect rows, else a lasso/box on the map.
state = st.session_state.get(CHART_KEY)
pick = chart_pick(state["selection"] if state else None, len(points.chunks.ids))
cells = confusion_event.selection.cells if confusion_event else []
rows: tuple[int, ...] = ()
where = ""
if cells:
    given, column = cells[0]
    voted = report.labels.index(column) if column in report.labels else int(column)
    rows = tuple(report.cell_rows(int(given), voted).tolist())
    where = f"labelled {report.labels[int(given)]}, neighbours vote {report.labels[voted]}"
elif suspect_event and suspect_event.selection.rows:
    rows = tuple(r for i in suspect_event.selection.rows for r in flagged[i].rows)
    where = "suspect documents picked in the table"
elif pick.rows:
    rows = pick.rows
    where = "picked on the map"

st.subheader("The map")
st.caption(f"PCA of the full vectors, coloured by label (with your fixes); suspect documents ringed in red, the "
           f"{RINGED_OUTLIERS} strongest outliers in violet. Box or lasso select points to fix or tag them.")
values = edits.apply(field, points.chunks.ids, label_values(points.chunks.metadatas, field))
view = map_bundle(workspace.collection.name, workspace.collection.embedder, points, projection,
                  full_paths=ui.policy().shows_server_paths)
groups = [v or "(none)" for v in values]
suspect_rows, outlier_rows = report.ringed()
rings = (("suspect labels", suspect_rows, SUSPECT_RING), ("outliers", outlier_rows, OUTLIER_RING))
marks = Highlights(rings=rings, matches=rows, match_label="selected")
fig = map_figure(view, Colouring(groups=groups, colours=category_colours(groups)), marks=marks)
st.plotly_chart(fig, width="stretch", key=CHART_KEY, on_select="rerun", selection_mode=("points", "box", "lasso"))

documents = document_names(points.chunks.metadatas)
if rows:
    st.subheader(f"Selected: {len(rows):,} chunks ({where})")
    st.dataframe(pd.DataFrame({"document": [documents[r] for r in rows], "label": [values[r] or "" for r in rows],
                               "neighbours vote": [report.labels[report.voted[r]] if report.voted[r] >= 0 else ""
                                                   for r in rows],
                               "text": [short(points.chunks.texts[r], 400) for r in rows]}),
                 hide_index=True, width="stretch", key="labels_selection", column_config={"text": TEXT_COLUMN})
    may_edit = not ui.policy().shared or ui.can_write(workspace)
    if not may_edit:
        st.caption("Fixing labels is switched off for this collection in the shared app.")
    else:
        # A label belongs to a document: a fix applies to every chunk of the selected documents.
        chosen = {documents[r] for r in rows}
        targets = [Target(points.chunks.ids[i], documents[i], label_values([points.chunks.metadatas[i]], field)[0])
                   for i in range(len(documents)) if documents[i] in chosen]
        label_col, label_button, tag_col, tag_button = st.columns([3, 1, 3, 1], vertical_alignment="bottom")
        new_label = label_col.text_input("New label", key="labels_new_label", placeholder=", ".join(report.labels[:4]))
        if label_button.button(f"Set label of {len(chosen):,} documents", key="labels_set"):
            try:
                version = edits.set_label(field, targets, new_label)
                st.session_state["labels_done"] = (f"Version {version}: {len(chosen):,} documents now "
                                                   f"'{new_label.strip()}'.")
                st.rerun()
            except ExplorerError as exc:
                st.error(str(exc))
        tag = tag_col.text_input("Tag", key="labels_tag", placeholder="e.g. ambiguous, checked")
        if tag_button.button("Tag them", key="labels_set_tag"):
            version = edits.set_tag(field, targets, tag)
            st.session_state["labels_done"] = f"Version {version}: {len(chosen):,} documents tagged '{tag.strip()}'."
            st.rerun()
else:
    st.caption("Select points on the map (box or lasso), rows of the suspect table or a cell of the matrix above "
               "to fix or tag them.")
if "labels_done" in st.session_state:
    st.success(st.session_state.pop("labels_done"))

st.subheader("Outliers")
st.caption("Documents whose chunks sit farthest from their nearest neighbours (1 - mean cosine): the emptiest "
           "neighbourhoods, often boilerplate, another language or a different kind of text.")
st.dataframe(pd.DataFrame([{"distance": o.distance, "document": o.document, "label": o.label,
                            "text": short(points.chunks.texts[o.rows[0]])} for o in report.outliers[:SHOWN]]),
             hide_index=True, width="stretch", key="labels_outliers",
             column_config={"distance": st.column_config.NumberColumn(format="%.3f"), "text": TEXT_COLUMN})

with st.expander(f"Your fixes and tags (version {edits.version()})"):
    changes = edits.export_frame(field)
    st.caption(f"{len(changes):,} chunks edited in '{field}'. Kept in this tool's own file, not in the store.")
    st.dataframe(changes, hide_index=True, width="stretch", key="labels_edits")
    csv_col, parquet_col = st.columns(2)
    csv_col.download_button("Edits (CSV)", frame_csv(changes), file_name="label-edits.csv", mime="text/csv",
                            key="labels_edits_csv")
    parquet_col.download_button("Edits (Parquet)", lambda: changes.to_parquet(index=False),
                                file_name="label-edits.parquet", key="labels_edits_parquet")
