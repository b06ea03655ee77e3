"""Chunking sweep: ingest the same documents cut several ways and score labelled questions on each."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Hashable

import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from core.chunking import METHODS
from core.config import DEFAULT_CHUNKING, DEFAULT_EMBEDDER
from core.errors import ExplorerError
from core.pipeline import Upload
from core.samples import SWEEP_CHARS, SWEEP_QUESTIONS, samples, with_shipped_vectors
from core.search import DEFAULT_MODE, MODES
from core.sharing import paid_embedder
from core.stores import open_store
from core.sweep import (PASSAGE_COLUMN, QUESTION_COLUMNS, SWEEP_STORE_DIR, SettingScores, SweepCorpus, QuestionSet,
                        beir_corpus, beir_questions, beir_subset, corpus_tokens, csv_questions, embedding_speed,
                        estimate_seconds, files_corpus, grid, missing_passages, run_sweep)
from core.jobs import Task
from core.types import ChunkSettings, ProgressCallback

SOURCES = ("Questions on documents (CSV)", "BEIR benchmark folder")
LONG_RUN_S = 60  # above this the estimate is a warning
SWEEP_JOB = "sweep"  # runs on its own thread: leaving the page does not cancel it
# So do cutting a BEIR subset, counting the corpus's tokens and timing the model for the estimate.
SUBSET_JOB, TOKENS_JOB, SPEED_JOB = "sweep_subset", "sweep_tokens", "sweep_speed"
TABLE_KEY = "sweep_table"
_TABLES = "_sweep_tables"  # (document names, the editor's starting table this visit, the table as last edited)

# Coming back finds the choices, and so the running or finished sweep, where they were (the table's edits: below).
ui.remembered("sweep_source", "sweep_beir", "sweep_split", "sweep_max_queries", "sweep_max_docs", "sweep_chars",
              "sweep_methods", "sweep_unit", "sweep_sizes", "sweep_overlaps", "sweep_whole", "sweep_model",
              "sweep_mode", "sweep_k")
st.title("Chunking sweep")
st.caption("Which chunker, size and overlap finds the answers? Every setting is ingested into its own "
           "collection in a scratch store (data/cache/sweeps), reused next time. A question with an expected "
           "passage is judged per passage (a chunk answers it when it holds the whole passage); one without, per "
           "document (its best chunk). Scores are nDCG@10 and recall@k.")


@st.cache_data(show_spinner=False)
def sample_questions() -> pd.DataFrame:
    return pd.read_csv(SWEEP_QUESTIONS, dtype=str)


def prepared(key: str, inputs: Hashable, label: str, task: Task) -> Any:
    """`task`'s result for `inputs`, worked out by a background job of this session (`ui.job_result`): its bar
    shows from the first moment and again on return, leaving the page does not cancel it, and the page stops
    below the bar until it is done (quick work, as on the samples, answers at once)."""
    result = ui.job_result(key, inputs, label, task)
    if result is None:
        st.caption("This goes on if you open another page; the sweep's choices show here when it is done.")
        st.stop()
    return result


def measured_speed(model: str) -> float:
    """Tokens per second of the model on this machine (a few sample chunks: seconds), measured once per server."""
    embedder = ui.cached_embedder(model)
    return prepared(SPEED_JOB, model, f"Timing {model} on this machine", lambda _: embedding_speed(
        embedder, [s.body()[i:i + 1000] for s in samples() for i in range(0, 8000, 1000)]))


def corpus_token_count(corpus: SweepCorpus, model: str) -> int:
    """Model tokens in the corpus (seconds for a large BEIR corpus), counted once per corpus and model."""
    embedder = ui.cached_embedder(model)
    return prepared(TOKENS_JOB, (corpus.fingerprint, model), f"Counting the corpus's tokens for {model}",
                    lambda progress: corpus_tokens(corpus, embedder, progress))


def benchmark_subset(folder: str, split: str, max_queries: int, max_docs: int) -> tuple[SweepCorpus, QuestionSet]:
    """The BEIR folder cut to the questions and documents asked for (a pass over its whole corpus), once."""
    def cut(progress: ProgressCallback) -> tuple[SweepCorpus, QuestionSet]:
        bench = beir_subset(Path(folder), split, max_queries, max_docs, SWEEP_STORE_DIR / "subsets", progress)
        return beir_corpus(bench), beir_questions(bench)

    return prepared(SUBSET_JOB, (folder, split, max_queries, max_docs), "Preparing the benchmark subset", cut)


def swept(inputs: tuple, start: bool, scratch: str, corpus: SweepCorpus,
          questions: QuestionSet) -> list[SettingScores] | None:
    """The sweep's scores for `inputs` (corpus and questions fingerprints, settings, model, mode, k), worked out by a
    background job of this session that goes on when the visitor leaves the page (None while it runs; with
    `start` False, none is started). On disk, the collections and scores stay too (within the cache limit)."""
    settings, model, mode, k = inputs[2:]
    embedder = with_shipped_vectors(ui.cached_embedder(model))  # the samples' vectors serve the app's own cut
    return ui.job_result(SWEEP_JOB, (scratch, *inputs), f"Sweeping {len(settings)} setting(s) with {model}",
                         lambda progress: run_sweep(open_store(scratch), corpus, questions, embedder, settings, mode,
                                                    k, progress, results_dir=Path(scratch) / "results"),  # type: ignore[arg-type]
                         start)


def documents_and_questions() -> tuple[SweepCorpus, QuestionSet, bool]:
    """The corpus and labelled questions picked on the page, and whether the corpus is the samples (whose
    vectors ship with them); raises ExplorerError on bad input."""
    policy = ui.policy()  # a BEIR folder is a path on the server; a shared app may not take uploads
    kinds = SOURCES if policy.allow_paths else SOURCES[:1]
    if st.radio("Questions from", kinds, horizontal=True, key="sweep_source") == SOURCES[1]:
        folder = st.text_input("BEIR folder (corpus.jsonl, queries.jsonl, qrels/)", key="sweep_beir",
                               placeholder="/path/to/scifact")
        c1, c2, c3 = st.columns(3)
        split = c1.text_input("Judgments split", "test", key="sweep_split")
        max_queries = c2.number_input("Queries (first n)", 1, 100_000, 100, key="sweep_max_queries")
        max_docs = c3.number_input("Documents (judged ones first)", 1, 10_000_000, 1000, key="sweep_max_docs")
        if not folder.strip():
            st.info("Enter the path of a BEIR folder on this machine.")
            st.stop()
        return *benchmark_subset(folder.strip(), split.strip(), int(max_queries), int(max_docs)), False
    uploads = st.file_uploader("Your documents (default: the built-in samples)", accept_multiple_files=True,
                               key="sweep_uploads", max_upload_size=ui.upload_limit_mb()
                               ) if ui.uploads_allowed() else None
    if uploads:
        ui.admit_uploads(uploads)  # charged once per file, NotAllowed over the per-file or per-session limit
        sources = [Upload(f.name, f.getvalue()) for f in uploads]
        table = pd.DataFrame(columns=list(QUESTION_COLUMNS))
    else:
        chars = st.number_input("Characters read from each sample (0 = all; fewer sweep faster; the default holds "
                                "every sample question's passage)", 0, *ui.limits().fit("sweep_chars", 10_000_000, SWEEP_CHARS),
                                step=10_000, key="sweep_chars")
        sources = [s.upload(chars or None) for s in samples()]
        table = sample_questions()
    ui.limits().check("sweep_chars", sum(len(s.data) for s in sources), "characters to sweep")
    corpus = files_corpus(sources)
    names = [s.name for s in sources]
    st.caption("One question per row; expected_source is the document that answers it (several: separate "
               f"with ';'); {PASSAGE_COLUMN} (optional) the words that answer it, quoted from that document. "
               "Edit the table or upload a CSV with these columns.")
    upload = st.file_uploader("Questions CSV", type=["csv"], key="sweep_questions_csv",
                              max_upload_size=ui.upload_limit_mb()) if ui.uploads_allowed() else None
    if upload is not None:
        ui.admit_uploads([upload])
        return corpus, csv_questions(upload.getvalue().decode("utf-8", errors="replace"), names), not uploads
    edited = st.data_editor(visit_table(table, names), num_rows="dynamic", width="stretch", key=TABLE_KEY,
                            column_config={"question": st.column_config.TextColumn(width="large"),
                                           "expected_source": st.column_config.SelectboxColumn(options=names),
                                           PASSAGE_COLUMN: st.column_config.TextColumn(width="large")})
    st.session_state[_TABLES] = (tuple(names), st.session_state[_TABLES][1], edited)
    return corpus, csv_questions(edited.to_csv(index=False), names), not uploads


def visit_table(default: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The table the editor starts from on this visit: the questions as last edited on these documents (Streamlit
    forgets an editor's edits once a run does not draw it), else `default`. It stays the same while the visitor is on
    the page: the editor's edits apply to it, and a new one would start the editor afresh."""
    kept_names, start, edited = st.session_state.get(_TABLES, ((), None, None))
    if kept_names != tuple(names):
        start = edited = default
    elif TABLE_KEY not in st.session_state:  # back on the page: go on from the last edits
        start = edited
    st.session_state[_TABLES] = (tuple(names), start, edited)
    return start


def chosen_grid() -> list[ChunkSettings]:
    st.subheader("Grid")
    c1, c2, c3, c4 = st.columns(4)
    methods = c1.multiselect("Chunkers", METHODS, ["recursive"], key="sweep_methods")
    unit = c2.selectbox("Unit", ["tokens", "words", "chars"], key="sweep_unit")
    sizes = c3.multiselect("Sizes", [32, 64, 128, 200, 256, 512, 1000, 2000], [64, 200, 512], key="sweep_sizes")
    overlaps = c4.multiselect("Overlaps", [0, 16, 32, 64, 128, 200], [0], key="sweep_overlaps")
    whole = st.checkbox("Also one chunk per whole document (holds every passage of its document, so passage "
                        "judgments cannot fault it)", False, key="sweep_whole")
    settings = grid(methods, sizes, overlaps, unit, whole)
    ui.limits().check("sweep_settings", len(settings), "settings in one sweep")
    return settings


try:
    corpus, questions, on_samples = documents_and_questions()
    ui.limits().check("queries", len(questions.queries), "questions in one sweep")
    settings = chosen_grid()
except ExplorerError as exc:
    st.error(str(exc))
    st.stop()

workspace = ui.current_workspace() if st.session_state.get(ui.COLLECTION) else None
models = [spec.name for spec in ui.embedder_choices()]
default_model = workspace.embedder.name if workspace else DEFAULT_EMBEDDER
c1, c2, c3 = st.columns(3)
model = c1.selectbox("Embedder", models, models.index(default_model) if default_model in models else 0,
                     key="sweep_model")
mode = c2.selectbox("Search", MODES, MODES.index(DEFAULT_MODE), key="sweep_mode")
k = int(c3.number_input("Recall at k", 1, *ui.limits().fit("k", 100, 10), key="sweep_k"))
st.caption(f"{corpus.documents} document(s), {len(questions.queries)} question(s), {len(settings)} setting(s): "
           + ", ".join(s.key() for s in settings))

unanswerable = missing_passages(corpus, questions) if questions.passages else []
if unanswerable:
    st.warning(f"{len(unanswerable)} question(s) have a passage no document holds (they score 0 in every "
               f"setting; read more characters?): " + "; ".join(unanswerable[:5]))
scratch = str(ui.scratch_folder(SWEEP_STORE_DIR))  # a shared app: this session's own, within the cache limit
paid = paid_embedder(model)  # timing it would send text before any click: a paid model is not timed
try:
    estimate = estimate_seconds(open_store(scratch), corpus, ui.cached_embedder(model), settings,
                                corpus_token_count(corpus, model), 1.0 if paid else measured_speed(model),
                                at_hand=(DEFAULT_CHUNKING,) if on_samples else ())
except ExplorerError as exc:  # counting or timing failed (a background job's error, said once)
    st.error(str(exc))
    st.stop()
if paid:
    st.caption(f"{model} is a paid service: Run sweep sends about {estimate.tokens:,} tokens for "
               f"{estimate.new_settings} new setting(s); nothing is sent before.")
else:
    tell = st.warning if estimate.seconds > LONG_RUN_S else st.caption
    tell(f"Estimated time: about {max(estimate.seconds, 1):.0f} s to embed {estimate.tokens:,} tokens for "
         f"{estimate.new_settings} new setting(s) on this machine"
         + (" (settings already swept come back at once)" if estimate.new_settings < len(settings) else "") + ".")

inputs = (corpus.fingerprint, questions.fingerprint(), tuple(settings), model, mode, k)
if st.button(f"Run sweep (sends ~{estimate.tokens:,} tokens to {model})" if paid else "Run sweep",
             type="primary", key="sweep_run"):
    st.session_state["sweep_inputs"] = inputs
chosen = st.session_state.get("sweep_inputs") == inputs
try:
    rows = swept(inputs, chosen, scratch, corpus, questions)
except ExplorerError as exc:
    st.error(str(exc))
    st.stop()
if rows is None:
    if not chosen:
        st.info("Pick the grid and press **Run sweep**. A new setting takes as long as ingesting the documents "
                "once; settings already swept come back at once.")
    else:
        st.caption("The sweep goes on if you open another page; its scores show here when you come back.")
    st.stop()

table = pd.DataFrame([{"setting": r.setting, "chunks": r.chunks, "nDCG@10": round(r.ndcg_10, 4),
                       f"recall@{k}": round(r.recall_k, 4), "embedded now": r.embedded_now,
                       "seconds": round(r.seconds, 1)} for r in rows])
best = max(rows, key=lambda r: r.ndcg_10)
st.metric("Best nDCG@10", f"{best.ndcg_10:.3f}", help=f"setting {best.setting}")
long = table.melt(id_vars="setting", value_vars=["nDCG@10", f"recall@{k}"], var_name="metric", value_name="score")
figure = px.bar(long, x="setting", y="score", color="metric", barmode="group", range_y=[0, 1],
                title=f"{len(questions.queries)} questions, {mode} search, {model}")
st.plotly_chart(figure, width="stretch")
st.dataframe(table, hide_index=True, width="stretch")
