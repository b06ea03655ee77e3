"""Hybrid search: vector, keyword or both fused, with each result's ranking
breakdown and a table of how the top results move as the fusion settings change."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

import ui
from core.documents import DocumentKey, shown_sources
from core.errors import ExplorerError
from core.highlight import Segment, query_segments
from core.samples import example_questions
from core.search import DEFAULT_MODE, MODES, FusionSettings, FusionSweep, SearchResult, fusion_sweep, search
from core.types import Filter
from core.workspace import Workspace

DEFAULTS = FusionSettings()
# What the "how results move" table varies: the settings of the fusion the results use.
SWEEPS = {"rrf": {"rrf_k": (1, 10, 60, 200), "depth": (10, 30, 100, 300)},
          "convex": {"weight": (0.2, 0.35, 0.5, 0.65, 0.8), "depth": (10, 30, 100, 300)}}

st.title("Hybrid search")
workspace = ui.current_workspace()
if workspace is None:
    st.stop()


@st.cache_data(show_spinner="Searching…", max_entries=64)
def cached_search(version: tuple, query: str, mode: str, k: int, where: Filter, documents: tuple[DocumentKey, ...],
                  fusion: FusionSettings, _workspace: Workspace) -> list[SearchResult]:
    return search(_workspace.collection, _workspace.embedder, query, mode=mode, k=k, where=where, fusion=fusion,
                  documents=documents)


@st.cache_data(show_spinner="Comparing fusion settings…", max_entries=32)
def cached_sweep(version: tuple, query: str, k: int, where: Filter, documents: tuple[DocumentKey, ...],
                 settings: tuple[FusionSettings, ...], _workspace: Workspace) -> FusionSweep:
    return fusion_sweep(_workspace.collection, _workspace.embedder, query, settings, k=k, where=where,
                        documents=documents)


def file_rows(workspace: Workspace) -> dict[str, list[DocumentKey]]:
    """The rows (documents) of each CSV / JSONL file, for the row picker."""
    rows: dict[str, list[DocumentKey]] = {}
    for document in ui.documents(workspace):
        if document.key.row:
            rows.setdefault(document.key.source, []).append(document.key)
    return rows


def fusion_controls(mode: str) -> FusionSettings:
    if mode != "hybrid":
        return DEFAULTS
    method_column, k_column, depth_column, weight_column = st.columns(4)
    method = method_column.radio("Fusion", ("rrf", "convex"), index=("rrf", "convex").index(DEFAULTS.method),
                                 horizontal=True, key="fusion_method",
                                 help="rrf: each list adds weight / (rrf_k + rank); convex: weight × score "
                                      "divided by the list's best score.")
    rrf_k = k_column.slider("RRF constant (rrf_k)", 1, 200, DEFAULTS.rrf_k, key="rrf_k",
                            disabled=method != "rrf")
    depth = depth_column.slider("Depth (read from each list)", 5, 500, DEFAULTS.depth, key="depth")
    weight = weight_column.slider("Vector weight", 0.0, 1.0, DEFAULTS.weight, 0.05, key="weight",
                                  help="The vector list's share; the keyword list gets 1 - weight.")
    return FusionSettings(method=method, rrf_k=rrf_k, depth=depth, weight=weight)


def contribution_formula(rank: int | None, contribution: float, share: float, fusion: FusionSettings) -> str:
    if fusion.method == "rrf" and rank is not None:
        return f"{share:.2f} / ({fusion.rrf_k} + {rank}) = {contribution:.5f}"
    if fusion.method == "rrf":
        return "not in this list: 0"
    return f"{share:.2f} × score / best = {contribution:.4f}" if rank else \
        f"{share:.2f} × lowest scaled score (missed) = {contribution:.4f}"


def breakdown(result: SearchResult, mode: str, fusion: FusionSettings) -> pd.DataFrame:
    rows = []
    for name, rank, score, contribution, share in (
            ("vector (cosine)", result.vector_rank, result.vector_score, result.vector_contribution, fusion.weight),
            ("keyword (BM25)", result.keyword_rank, result.keyword_score, result.keyword_contribution,
             1.0 - fusion.weight)):
        if mode != "hybrid" and not name.startswith(mode):
            continue
        rows.append({"list": name, "rank in this list alone": rank, "score": score,
                     "contribution": (contribution_formula(rank, contribution, share, fusion)
                                      if mode == "hybrid" else f"{contribution:.4f}")})
    rows.append({"list": "fused" if mode == "hybrid" else "result", "rank in this list alone": result.rank,
                 "score": result.score, "contribution": "sum of the above" if mode == "hybrid" else ""})
    return pd.DataFrame(rows)


def show_result(result: SearchResult, query: str, mode: str, fusion: FusionSettings) -> None:
    document = ui.document_names(workspace)(DocumentKey.of(result.metadata))  # file › row id, never a server path
    category = str(result.metadata.get("category", ""))
    with st.container(border=True):
        heading = Segment(f"#{result.rank} · {document}{' · ' + category if category else ''} · "
                          f"score {result.score:.4f}\n", "heading")
        ui.show_segments([heading, *query_segments(result.text, query)])
        with st.expander("Why this rank"):
            st.dataframe(breakdown(result, mode, fusion), hide_index=True, width="stretch")


def sweep_table(sweep: FusionSweep, varied: str) -> pd.DataFrame:
    columns = [f"{varied}={getattr(s, varied)}" for s in sweep.settings]
    name = ui.document_names(workspace)
    return pd.DataFrame([{"text": row.text[:120], "document": name(DocumentKey.of(row.metadata)),
                          **dict(zip(columns, row.ranks)), "moved": row.movement} for row in sweep.rows])


def use_example(text: str) -> None:
    st.session_state["query"] = text


examples = example_questions(workspace.collection.name)
if examples:
    for number, (column, text) in enumerate(zip(st.columns(len(examples)), examples)):
        column.button(text, key=f"search_example_{number}", on_click=use_example, args=(text,), width="stretch")
if "query" not in st.session_state:  # a copied link carries its query
    st.session_state["query"] = ui.url_param("q")
query = st.text_input("Query", key="query", placeholder="What does Victor Frankenstein create?",
                      max_chars=ui.limits().query_chars)
ui.set_url_param("q", query.strip())
k_column, mode_column, category_column, source_column = st.columns([1, 2, 2, 3])
k = k_column.number_input("Results (k)", 1, *ui.limits().fit("k", 100, 10), key="k")
mode = mode_column.radio("Mode", MODES, index=MODES.index(DEFAULT_MODE), horizontal=True, key="mode")
categories, sources = ui.facets(workspace)
chosen_categories = category_column.multiselect("Categories", categories, key="categories")
shown = shown_sources(sources)
chosen_sources = source_column.multiselect("Files", sources, key="sources", format_func=shown.__getitem__)
where = Filter(categories=tuple(chosen_categories) or None, sources=tuple(chosen_sources) or None)
# Rows of CSV / JSONL files are documents: a chosen file's rows can be picked (type to find one of thousands).
version = ui.collection_version(workspace)
by_file = file_rows(workspace) if chosen_sources else {}
rows = [key for source in chosen_sources for key in by_file.get(source, [])]
chosen_rows = st.multiselect("Rows of the chosen files", rows, key="search_rows",
                             format_func=ui.document_names(workspace),
                             placeholder=f"all {len(rows):,} rows (type an id to pick some)") if rows else []
picked = {key.source for key in chosen_rows}
documents = (*chosen_rows, *(DocumentKey(s) for s in chosen_sources if s not in picked)) if chosen_rows else ()
fusion = fusion_controls(mode)

if not query.strip():
    st.info("Type a query to search the collection.")
    st.stop()

try:
    results = cached_search(version, query, mode, int(k), where, documents, fusion, workspace)
except ExplorerError as exc:
    st.error(str(exc))
    st.stop()
st.metric("Results", len(results))
if not results:
    st.info("Nothing found: try other words, another mode, or fewer filters.")
for result in results:
    show_result(result, query, mode, fusion)

if mode == "hybrid":
    st.subheader("How the top results move as fusion settings change")
    varied = st.radio("Vary", list(SWEEPS[fusion.method]), horizontal=True, key=f"sweep_varied_{fusion.method}")
    settings = tuple(replace(fusion, **{varied: value}) for value in SWEEPS[fusion.method][varied])
    st.caption(f"Ranks of every chunk that reaches the top {int(k)} under some setting ({fusion.method} fusion, "
               f"the one the results above use, other settings as above; "
               "blank = not retrieved at that depth); 'moved' = places gained from the first column to the last.")
    try:
        sweep = cached_sweep(version, query, int(k), where, documents, settings, workspace)
    except ExplorerError as exc:
        st.error(str(exc))
    else:
        st.dataframe(sweep_table(sweep, varied), hide_index=True, width="stretch")
