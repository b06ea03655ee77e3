"""Streamlit-side glue shared by the pages: cached heavy objects, the store and
collection chosen in the sidebar, progress bars, error boxes and safe drawing of
marked text. No business logic here: that lives in `core`."""
from __future__ import annotations

import html
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator, Sequence

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.config import DEFAULT_EMBEDDER, DEFAULT_STORE_DIR, SAMPLE_COLLECTION, default_store_url, get_secret, read_secrets
from core.documents import DocumentInfo, DocumentKey, label, list_documents, shown_sources
from core.embedders import EMBEDDERS, Embedder, EmbedderSpec, available_embedders, get_embedder, known_embedder
from core.errors import ExplorerError, NotAllowed
from core.highlight import Segment
from core.jobs import Job, Results, Task, start_job
from core.llm import LLM
from core.markup import markdown_text
from core.pipeline import Source, Upload
from core.projection import MapPoints, Projection, ProjectionSettings, cached_points, project
from core.samples import ensure_samples
from core.scratch import prune, session_folder, touch
from core.sharing import Limits, SharingPolicy, StoreEntry, configured_database_urls, load_policy, masked_url
from core.stores import Store, open_store
from core.stores.pg_table import TableColumns, VectorTable, table_url, vector_tables
from core.stores.pgvector import with_index
from core.types import CollectionInfo, ProgressCallback, ProgressEvent
from core.workspace import StoredVectorsOnly, Workspace, check_query_embedder, open_workspace

log = logging.getLogger(__name__)

STORE_KINDS = ("Local folder (Chroma)", "Chroma server", "PostgreSQL + pgvector")
PG_INDEXES = {"hnsw": "HNSW (fast queries, more memory)", "ivfflat": "IVFFlat (lists ≈ √rows)",
              "exact": "none (exact scan)"}
DEFAULT_CHROMA_SERVER = "127.0.0.1:8765"
DEFAULT_DATABASE_URL = "postgresql://localhost:5432/explorer"
ANOTHER_DATABASE = "another"  # the PostgreSQL choice whose URL is typed in the sidebar
PG_CONTENTS = ("This tool's collections", "An existing table (read-only)")
NO_COLUMN = "(none)"
# Session keys the pages read; the sidebar writes them. The store URL stays on the server
# (session state is never sent to the browser); widgets only ever hold names.
STORE_URL, COLLECTION = "store_url", "collection"
_JOBS = "_jobs"  # key -> core.jobs.Job: this session's work that outlives its page
_DONE = "_jobs_done"  # key -> the last Job of that kind that succeeded (its inputs and result)
POINTS_JOB = "points"  # reading a collection version's points for the map or the labels check
PCA_JOB = "pca"  # their first PCA layout, for the same pages
_REMEMBERED = "_remembered_widgets"  # widget key -> its value when the visitor last left its page
_UPLOADED = "_uploaded_bytes"  # what this session has ingested from uploads, against the shared limit
_ADMITTED = "_admitted_uploads"  # ids of the files (sweep corpora, CSVs, bundles) already charged to this session
_PICK = "_collection_to_pick"  # a collection a page asked the sidebar to select on the next run
_CHOSEN = "_collection_chosen"  # the sidebar's last choice
_QUERY_MODELS = "_query_models"  # (store URL, collection) -> the model shown to embed its queries
_TABLE_MODEL_CHECKS = "_table_model_checks"  # (table URL, model) -> whether the model reproduces its vectors
VECTORS_ONLY = "none: vectors only"
# What a link carries (st.query_params), so a copied URL opens the same view in a fresh session.
URL_STORE, URL_COLLECTION = "store", "collection"
# Background colours for marked text: alternating chunks, overlaps, query terms.
CHUNK_COLOURS = ("#dbeafe", "#dcfce7", "#fef9c3", "#fce7f3")
MARK_STYLES = {"overlap": "background:#fdba74;", "term": "background:#fde047;font-weight:600;",
               "heading": "font-weight:700;color:#334155;", "answer": "background:#bbf7d0;font-weight:600;",
               "label": "font-size:0.7em;color:#475569;background:#f1f5f9;border-radius:3px;padding:0 3px;"
                               "margin-right:2px;",
               "over-limit": "font-size:0.7em;color:#fff;background:#dc2626;border-radius:3px;padding:0 3px;"
                             "margin-right:2px;font-weight:700;"}


@st.cache_resource(show_spinner="Loading the embedding model…")
def cached_embedder(name: str) -> Embedder:
    return get_embedder(name)


@st.cache_resource(show_spinner="Opening the store…")
def cached_store(url: str) -> Store:
    return open_store(url)


def current_workspace() -> Workspace | None:
    """The store + collection picked in the sidebar, or None (with a message shown) when unusable."""
    url = st.session_state.get(STORE_URL)
    name = st.session_state.get(COLLECTION)
    if not url or not name:
        st.info("Pick a collection in the sidebar first." if policy().shared else
                "Pick or create a collection on the Library page first.")
        return None
    try:
        # get_embedder keeps one instance per model, so this reopens nothing heavy.
        workspace = open_workspace(cached_store(url), name)
    except ExplorerError as exc:
        st.error(str(exc))
        return None
    query_model = st.session_state.get(_QUERY_MODELS, {}).get((url, name))
    if query_model:  # another program's vectors, and a model of ours shown (in the sidebar) to reproduce them
        return Workspace(workspace.store, workspace.collection, cached_embedder(query_model))
    if not policy().offers_embedder(workspace.embedder.name):
        # Made with a paid model this shared app does not open to visitors: every typed query would be
        # embedded with the server's key, so the collection is used from its stored vectors only.
        return Workspace(workspace.store, workspace.collection, StoredVectorsOnly(
            workspace.collection.embedder, f"this collection was made with {workspace.embedder.name}, a paid model "
                                           "this shared app does not offer to visitors"))
    return workspace


def current_store() -> Store | None:
    """The store picked in the sidebar, or None when it cannot be opened (the sidebar says why)."""
    url = st.session_state.get(STORE_URL)
    if not url:
        return None
    try:
        return cached_store(url)
    except ExplorerError:
        return None


def collection_version(workspace: Workspace) -> tuple[str, str, str]:
    """Store, collection and its version: a cache key that changes on every write to the collection
    (never the chunk count: an edit that keeps the count must not serve the old text)."""
    return (workspace.store.url, workspace.collection.name, workspace.collection.version())


@st.cache_data(show_spinner=False, max_entries=16)
def _documents(version: tuple[str, str, str], _workspace: Workspace) -> list[DocumentInfo]:
    with progress_bar("Listing the documents") as progress:
        return list_documents(_workspace.collection, progress)


def documents(workspace: Workspace) -> list[DocumentInfo]:
    """Every document of the collection (cached per version: listing them reads every chunk's metadata in a
    Chroma store, half a minute at a million chunks, which a page must not pay on every rerun)."""
    return _documents(collection_version(workspace), workspace)


@st.cache_data(show_spinner=False, max_entries=64)
def _facets(version: tuple[str, str, str], _workspace: Workspace) -> tuple[list[str], list[str]]:
    listed = documents(_workspace)  # the one read of the metadata that the Library's list also comes from
    return (sorted({d.category for d in listed if d.category}),
            list(dict.fromkeys(d.key.source for d in listed)))


def facets(workspace: Workspace) -> tuple[list[str], list[str]]:
    """The collection's categories and document names, for filter pickers (cached per version)."""
    return _facets(collection_version(workspace), workspace)


def document_names(workspace: Workspace) -> Callable[[DocumentKey], str]:
    """How pages name a document: `file › row id` for a CSV / JSONL row, a local file relative to the
    folder the collection's files share (never where it sits on the server), an upload as labelled."""
    shown = shown_sources(facets(workspace)[1])
    return lambda key: label(key, shown)


def pick_collection(name: str) -> None:
    """Make `name` the selected collection (the sidebar's select box follows on the rerun)."""
    st.session_state[_PICK] = name
    st.rerun()


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressCallback]:
    """A Streamlit progress bar fed by core progress events."""
    bar = st.progress(0.0, text=label)

    def show(event: ProgressEvent) -> None:
        fraction = min(event.done / event.total, 1.0) if event.total else 0.0
        bar.progress(fraction, text=f"{label}: {event.stage} {event.detail}"[:120])

    try:
        yield show
    finally:
        bar.empty()


def run_in_background(key: str, label: str, task: Task, inputs: Hashable = None) -> Job:
    """Start `task` on its own thread (core.jobs): it goes on when the visitor opens another page,
    and `finished_job(key)` shows its progress again on return. Returns the job."""
    job = start_job(label, task, inputs)
    st.session_state.setdefault(_JOBS, {})[key] = job
    return job


def background_job(key: str) -> Job | None:
    return st.session_state.get(_JOBS, {}).get(key)


def finished_job(key: str, show: Callable[[Job], None] | None = None) -> Job | None:
    """While this session's job `key` runs, its progress bar (or what `show` draws of it), refreshed twice a
    second; once it has ended, the job (result or error), returned once and then forgotten."""
    job = background_job(key)
    if job is None:
        return None
    if job.running:
        _job_progress(key, show)
        return None
    return st.session_state[_JOBS].pop(key)


@st.fragment(run_every=0.5)
def _job_progress(key: str, show: Callable[[Job], None] | None = None) -> None:
    job = background_job(key)
    if job is not None and not job.running:
        st.rerun(scope="app")  # the page reads the outcome
    if job is not None:
        (show or job_bar)(job)


def job_bar(job: Job) -> None:
    st.progress(job.fraction(), text=markdown_text(job.status()[:120]))  # names in it are shown as written


@st.cache_resource(show_spinner=False)
def _results() -> Results:
    """What background jobs worked out, for every session: the same work asked for again is not run again."""
    return Results()


def job_result(key: str, inputs: Hashable, label: str, task: Task, start: bool = True) -> Any:
    """`task`'s result for `inputs`, worked out by a background job of this session: it goes on when the visitor
    opens another page, its progress bar shows from the first moment and again on return, and its result is
    kept, so coming back (or another session asking the same) shows it at once instead of running it again.
    One job per `key`: while one runs, none other starts (one for other inputs waits for it to finish).
    None while nothing is ready: the bar is shown, or with `start` False nothing is started. A failed job's
    error is raised once, as ExplorerError, to the run that asks for the same inputs; the next asks again."""
    job = background_job(key)
    if job is not None and not job.running:
        job = st.session_state[_JOBS].pop(key)
        if job.error is None:
            st.session_state.setdefault(_DONE, {})[key] = job
        elif job.inputs == inputs:
            raise ExplorerError(job.error)
        job = None
    done = st.session_state.get(_DONE, {}).get(key)
    if done is not None and done.inputs == inputs:
        return done.result
    shared = _results()
    if (result := shared.get(key, inputs)) is not None:
        return result
    if job is None:
        if not start:
            return None

        def kept(progress: ProgressCallback) -> Any:
            result = task(progress)
            shared.put(key, inputs, result)
            return result

        if run_in_background(key, label, kept, inputs).wait(0.25):  # quick work shows at once, without a bar
            return job_result(key, inputs, label, task, start=False)
    elif job.inputs != inputs:
        st.caption(f"Still running: {job.label}." + (" This starts when it is done." if start else ""))
    _job_progress(key)
    return None


def map_points(workspace: Workspace, cap: int) -> MapPoints | None:
    """The collection version's points (at most `cap`) for a map or the labels check, or None while they are first
    read. That first read (the store: seconds, minutes at a million chunks) is a background job of the session: its
    bar from the first moment and again on return, leaving the page does not cancel it. Later ones map the disk
    cache it wrote (`core.projection.cached_points`), once per server for every page and session."""
    def read(progress: ProgressCallback) -> int:
        return cached_points(workspace.collection, workspace.store.url, cap, progress=progress).total  # no copy kept

    version = collection_version(workspace)
    if job_result(POINTS_JOB, (version, cap), "Reading vectors", read) is None:
        return None
    return _mapped_points(version, cap, workspace)


def pca_layout(points: MapPoints, settings: ProjectionSettings = ProjectionSettings(method="pca")) -> Projection | None:
    """The points' PCA layout, or None while it is first worked out (seconds at 100,000 points) by a background job
    of the session: its bar from the first moment and again on return, leaving the page does not cancel it. Later
    ones are read from the disk cache it wrote."""
    return job_result(PCA_JOB, (points.fingerprint, settings.key()), "Laying out the map (PCA)", lambda progress: (
        project(points.chunks.embeddings, settings, progress, data_key=points.fingerprint)))


@st.cache_resource(show_spinner=False, max_entries=4)
def _mapped_points(version: tuple[str, str, str], cap: int, _workspace: Workspace) -> MapPoints:
    with progress_bar("Reading vectors") as progress:  # moves only if the cache files went missing meanwhile
        return cached_points(_workspace.collection, _workspace.store.url, cap, progress=progress)


def url_param(name: str, default: str = "") -> str:
    """A value the page's URL carries (so a copied link opens the same view), else `default`."""
    return st.query_params.get(name, default)


def set_url_param(name: str, value: str | None) -> None:
    """Put `value` in the page's URL under `name` (None or empty removes it); unchanged values are not rewritten."""
    if not value:
        st.query_params.pop(name, None)
    elif st.query_params.get(name) != value:
        st.query_params[name] = value


def url_linked(key: str, param: str, options: Sequence[str]) -> None:
    """Tie widget `key` (a choice among `options`) to the URL's `param`: a fresh session takes the
    link's value, and every later run writes the widget's value back. Call it before the widget."""
    if key in st.session_state:
        set_url_param(param, str(st.session_state[key]))
    elif url_param(param) in options:
        st.session_state[key] = url_param(param)


def remembered(*keys: str) -> None:
    """Keep these widgets' values when the visitor opens another page and comes back (Streamlit forgets the values
    of widgets a run does not draw), so a page whose background job is keyed by them finds its result again.
    Call it before the widgets; a value no longer allowed falls back to the widget's default."""
    kept = st.session_state.setdefault(_REMEMBERED, {})
    for key in keys:
        if key in st.session_state:
            kept[key] = st.session_state[key]
        elif key in kept:
            st.session_state[key] = kept[key]


def segments_html(segments: Sequence[Segment], block_style: str = "") -> str:
    """Marked text as HTML in which only our <span>s are markup: every piece of text is
    escaped, so a document holding <script> or Markdown shows those characters, nothing runs."""
    pieces = []
    for segment in segments:
        text = html.escape(segment.text)
        if segment.mark.startswith("chunk-"):
            colour = CHUNK_COLOURS[int(segment.mark.removeprefix("chunk-")) % len(CHUNK_COLOURS)]
            pieces.append(f'<span class="chunk" style="background:{colour};">{text}</span>')
        elif segment.mark in MARK_STYLES:
            pieces.append(f'<span class="{segment.mark}" style="{MARK_STYLES[segment.mark]}">{text}</span>')
        else:
            pieces.append(text)
    return (f'<div style="white-space:pre-wrap;font-family:sans-serif;line-height:1.5;{block_style}">'
            f'{"".join(pieces)}</div>')


def show_segments(segments: Sequence[Segment], block_style: str = "") -> None:
    st.html(segments_html(segments, block_style))


# -- the sharing policy --------------------------------------------------------------------

def policy() -> SharingPolicy:
    """Who may do what (core/sharing.py); read on every run, so an edited secrets file applies at once."""
    return load_policy()


def can_write(workspace: Workspace) -> bool:
    """Ingest into and delete from the workspace's collection: never someone else's data, and on a shared
    app only a collection configured writable."""
    return not workspace.collection.read_only and policy().can_write(workspace.store.url, workspace.collection.name)


def can_manage(store: Store) -> bool:
    """Create, import and delete collections in `store` (not on a shared app, not in someone else's store)."""
    return policy().manage_collections and not store.read_only


FOREIGN_STORE = ("This store is another program's data: collections are read here, never created, imported or "
                 "deleted.")


def read_only_reason(name: str, foreign: bool) -> str:
    """Why `name` (a collection or a store) offers no write action, in the words of the mode."""
    if foreign:
        return f"'{name}' is another program's data: it is read here, never written to."
    return f"'{name}' is read-only on this shared app."


def can_upload(workspace: Workspace | None) -> bool:
    return policy().can_upload(workspace.store.url if workspace else "", workspace and workspace.collection.name)


def upload_limit_mb() -> int:
    """The per-file limit to give st.file_uploader."""
    return policy().uploads.uploader_mb


def charge_uploads(sources: Sequence[Source]) -> Callable[[], None]:
    """Check uploads against the per-file and per-session limits (NotAllowed if over); returns what
    to call once they are ingested, which counts them against this session's limit."""
    files = [(s.name, len(s.data)) for s in sources if isinstance(s, Upload)]
    policy().uploads.check(files, st.session_state.get(_UPLOADED, 0))

    def charge() -> None:
        st.session_state[_UPLOADED] = st.session_state.get(_UPLOADED, 0) + sum(size for _, size in files)
    return charge


def uploads_allowed() -> bool:
    """Whether any uploader may be shown (none at all on a shared app with uploads = false)."""
    return policy().uploads.allowed


def admit_uploads(files: Sequence) -> None:
    """Charge uploaded files (st.file_uploader's) that a page reads without ingesting them (a sweep's
    corpus, a questions CSV, a session bundle) to this session's upload limits, once per file; NotAllowed
    when over a limit or when uploads are off."""
    admitted: set = st.session_state.setdefault(_ADMITTED, set())
    new = [f for f in files if f.file_id not in admitted]
    sizes = [(f.name, f.size) for f in new]
    policy().uploads.check(sizes, st.session_state.get(_UPLOADED, 0))
    st.session_state[_UPLOADED] = st.session_state.get(_UPLOADED, 0) + sum(size for _, size in sizes)
    admitted.update(f.file_id for f in new)


def limits() -> Limits:
    """What one request may make the server compute (core/sharing.py Limits; none on one's own machine)."""
    return policy().limits


def within_limit(name: str, value: float, what: str) -> bool:
    """Whether `value` is within the limit `name`; when not, the reason is shown in an error box."""
    try:
        limits().check(name, value, what)
    except NotAllowed as exc:
        st.error(str(exc))
        return False
    return True


def embedder_choices() -> list[EmbedderSpec]:
    """The embedders a page may offer: runnable here, and (on a shared app) offline or configured."""
    return policy().embedders(available_embedders())


def scratch_folder(root: Path) -> Path:
    """Where this run may write scratch under `root`: `root` itself on one's own machine; on a shared app a
    folder per browser session. Either way the folder is kept within the cache limit, oldest first."""
    rules = policy()
    folder = root
    if rules.shared:
        folder = session_folder(root, get_script_run_ctx().session_id)
        prune(folder.parent, rules.limits.cache_bytes, keep=folder)
    touch(folder)
    return folder


def bound_cache(folder: Path) -> None:
    """Keep a cache folder within the limit (oldest entries go first)."""
    prune(folder, limits().cache_bytes)


def configured_llm() -> Callable[[], LLM | None]:
    """The shared app's language-model picker: configured endpoints only, and (when allowed) a
    visitor's own key, kept in this session's state only. Returns what builds the chosen model."""
    rules = policy()
    endpoints = rules.endpoints
    choice_column, key_column = st.columns([2, 3])
    n = choice_column.selectbox("Answer with", range(len(endpoints)), format_func=lambda i: endpoints[i].name,
                                key="chat_endpoint")
    endpoint = endpoints[n]
    user_key = None
    if endpoint.provider != "extractive":
        if rules.user_keys:
            user_key = key_column.text_input(
                "Your own API key (optional)", type="password", key=f"chat_user_key_{n}",
                help="Used for your questions in this browser session only; never stored or shown to anyone.")
        if not user_key and not endpoint.has_server_key() and endpoint.provider != "openai-compatible":
            key_column.caption("This model needs a key: " + ("paste your own." if rules.user_keys
                                                               else "ask whoever runs this app."))
    return lambda: rules.llm(endpoint, user_key)


def sign_in_page(rules: SharingPolicy) -> Callable[[], None] | None:
    """None when the visitor may go on; else the page to show instead of the app: sign in
    (st.login, OpenID Connect), or a clear error when sign-in is required but no [auth] section
    configures it."""
    auth_configured = "auth" in read_secrets()
    signed_in = bool(auth_configured and st.user.get("is_logged_in", False))
    state = rules.sign_in(auth_configured, signed_in)
    if state == "open":
        if signed_in:
            with st.sidebar:
                st.caption(f"Signed in as {st.user.get('email') or st.user.get('name') or 'you'}")
                st.button("Sign out", on_click=st.logout, key="sign_out")
        return None

    def page() -> None:
        st.title("Embedding Explorer")
        if state == "misconfigured":
            st.error("This app requires sign-in, but no sign-in provider is configured. Whoever runs it: add an "
                     "[auth] section (OpenID Connect: redirect_uri, cookie_secret, client_id, client_secret, "
                     "server_metadata_url) to .streamlit/secrets.toml, or set require_sign_in = false under "
                     "[explorer].")
        else:
            st.info("Sign in to explore the documents shared here.")
            st.button("Sign in", on_click=st.login, type="primary", key="sign_in")
    return page


def configuration_error_page(error: ExplorerError) -> Callable[[], None]:
    """The page shown instead of the app when its configuration is wrong (nothing half applied)."""
    def page() -> None:
        st.title("Embedding Explorer")
        st.error(f"The app's configuration needs fixing: {error}")
    return page


# -- the sidebar -----------------------------------------------------------------------

def _store_kind(url: str) -> int:
    if url.startswith("chroma://"):
        return 1
    return 2 if url.startswith(("postgresql://", "postgres://")) else 0


def _database_url() -> str:
    """A PostgreSQL URL: one set server-side (DATABASE_URL, EXPLORER_STORE), offered by name with its
    password masked, or one typed here. The configured URL itself is never a widget value."""
    configured = configured_database_urls()
    choice = st.selectbox("Database", [*configured, ANOTHER_DATABASE], key="pg_source",
                          format_func=lambda n: f"{n}: {masked_url(configured[n])}" if n in configured
                          else "Another URL…")
    if choice in configured:
        return configured[choice]
    url = st.text_input("PostgreSQL URL", value=DEFAULT_DATABASE_URL, key="pg_url", type="password",
                        help="postgresql://user:password@host:port/database").strip()
    st.caption(f"Connecting to {masked_url(url)}")
    return url


@st.cache_data(ttl=60, show_spinner="Reading the database's tables…")
def _vector_tables(database_url: str) -> list[VectorTable]:
    """The catalog's tables with a vector column, re-read at most once a minute."""
    return vector_tables(database_url)


def _pick_table(database_url: str) -> str | None:
    """The URL of another application's table in the database and the columns picked for it from
    the catalog; None (with the reason shown) until there is one to open."""
    try:
        tables = {f"{t.schema}.{t.table}": t for t in _vector_tables(database_url)}
    except ExplorerError as exc:
        st.error(str(exc))
        return None
    if not tables:
        st.info(f"No table in {masked_url(database_url)} has a vector column.")
        return None
    name = st.selectbox("Table", list(tables), key="pg_table")
    table = tables[name]
    columns = [*table.text_columns, *table.other_columns]
    # Keyed by table, so another table's picks never carry over to this one.
    vector = st.selectbox("Vector column", list(table.vector_columns), key=f"pg_vector:{name}",
                          format_func=lambda c: f"{c} ({table.vector_columns[c]} dimensions)"
                          if table.vector_columns[c] else f"{c} (no fixed size)")
    text = st.selectbox("Text column", [NO_COLUMN, *table.text_columns], index=1 if table.text_columns else 0,
                        key=f"pg_text:{name}", help="What the map, search results and keyword search show")
    key = st.selectbox("Id column", columns, key=f"pg_id:{name}",
                       index=columns.index(table.primary_key) if table.primary_key in columns else None,
                       format_func=lambda c: f"{c} (primary key)" if c == table.primary_key else c,
                       placeholder="No primary key: pick a unique column")
    category = st.selectbox("Category column", [NO_COLUMN, *columns], key=f"pg_category:{name}")
    metadata = st.multiselect("Metadata columns", columns, key=f"pg_metadata:{name}")
    dimension = table.vector_columns[vector]
    models = [NO_COLUMN, *(spec.name for spec in EMBEDDERS.values()
                           if spec.available and (spec.dimension == dimension or not dimension))]
    model = st.selectbox("Model that made the vectors", models, key=f"pg_model:{name}",
                         help="Lets text queries be embedded, once it reproduces a sample of the stored vectors. "
                              "Without one the table opens vectors-only: map, clusters, keyword search work.")
    if key is None:
        st.info(f"{name} has no single-column primary key: pick the column that identifies its rows.")
        return None
    picked = TableColumns(table.schema, table.table, vector, None if text == NO_COLUMN else text, key,
                          None if category == NO_COLUMN else category, tuple(metadata))
    try:
        url = table_url(database_url, picked)
        if model == NO_COLUMN or not _reproduces(url, table.table, model):
            return url
    except ExplorerError as exc:
        st.error(str(exc))
        return None
    return table_url(database_url, picked, model)


def _reproduces(url: str, table: str, model: str) -> bool:
    """Whether `model` turns a sample of the table's texts into its stored vectors (said in the
    sidebar); checked once per table URL and model in this session."""
    checks: dict = st.session_state.setdefault(_TABLE_MODEL_CHECKS, {})
    if (url, model) not in checks:
        collection = open_workspace(cached_store(url), table).collection
        checks[(url, model)] = check_query_embedder(collection, cached_embedder(model))
    check = checks[(url, model)]
    if check.matches:
        st.caption(check.reason)
    else:
        st.warning(check.reason + "; opened vectors-only")
    return check.matches


def _store_url_input() -> str | None:
    """The URL of the store picked in the sidebar; None when there is nothing to open yet."""
    default = default_store_url()
    kind = st.radio("Store", STORE_KINDS, index=_store_kind(default), key="store_kind")
    if kind == STORE_KINDS[1]:
        address = default.removeprefix("chroma://") if _store_kind(default) == 1 else DEFAULT_CHROMA_SERVER
        address = st.text_input("Chroma server (host:port)", value=address, key="chroma_address")
        return f"chroma://{address.strip().removeprefix('chroma://')}"
    if kind == STORE_KINDS[2]:
        url = _database_url()
        if st.radio("Open", PG_CONTENTS, key="pg_contents") == PG_CONTENTS[1]:
            return _pick_table(url)
        index = st.selectbox("Vector index for new collections", PG_INDEXES, key="pg_index",
                             format_func=PG_INDEXES.get,
                             help="A collection keeps the index it was made with. ?index=... in the URL wins.")
        return with_index(url, index)
    folder = default if _store_kind(default) == 0 else str(DEFAULT_STORE_DIR)
    return st.text_input("Folder", value=folder, key="store_folder").strip()


def _shared_store(rules: SharingPolicy) -> StoreEntry:
    """One of the configured stores, picked by display name (the choice is an index, never a URL)."""
    names = [entry.name for entry in rules.stores]
    linked = url_param(URL_STORE)  # by name, never a URL: a link must not carry a password
    n = st.selectbox("Store", range(len(rules.stores)), format_func=lambda i: rules.stores[i].name,
                     index=names.index(linked) if linked in names else 0, key="shared_store")
    set_url_param(URL_STORE, rules.stores[n].name)
    return rules.stores[n]


def _collection_label(infos: dict[str, CollectionInfo], url: str, rules: SharingPolicy):
    def label(name: str) -> str:
        info = infos[name]
        access = "" if not rules.shared else " · writable" if rules.can_write(url, name) else " · read-only"
        return f"{name} · {info.embedder.name} · {info.count:,} chunks{access}"
    return label


def _ingest_samples(store: Store) -> None:
    st.info("This store is empty: adding the built-in samples (two novels and a spec), once.")
    with progress_bar("Ingesting the samples") as progress:
        report = ensure_samples(store, cached_embedder(DEFAULT_EMBEDDER), progress)
    st.success(report.summary())


def _providers(rules: SharingPolicy) -> None:
    if rules.shared:
        names = ", ".join(e.name for e in rules.endpoints)
        st.markdown(f"Answers: {names}")
        st.caption("Configured by whoever runs this app" + ("; you may use your own key on the Ask page."
                                                           if rules.user_keys else "."))
        return
    for label, key in (("OpenAI key", "OPENAI_API_KEY"), ("Anthropic key", "ANTHROPIC_API_KEY")):
        st.markdown(f"{label}: **{'set' if get_secret(key) else 'not set'}**")
    st.caption("Everything works offline without keys (MiniLM embeddings, extractive answers); "
               "keys add OpenAI embedders and LLM answers.")


def _collections(url: str, rules: SharingPolicy, shown_name: str) -> dict[str, CollectionInfo]:
    """The collections of the store the visitor may see; an unusable store is an error box
    (in shared mode without its location: the detail goes to the server log)."""
    try:
        store = cached_store(url)
        infos = {info.name: info for info in store.list_collections() if rules.shows(url, info.name)}
        if not infos and not rules.shared:
            _ingest_samples(store)
            infos = {info.name: info for info in store.list_collections()}
    except ExplorerError as exc:
        if rules.shared:
            log.warning("store '%s' cannot be opened: %s", shown_name, exc)
            st.error(f"The store '{shown_name}' cannot be opened right now; the server log says why.")
        else:
            st.error(str(exc))
        return {}
    if not infos and rules.shared:
        st.info(f"No collections to show in '{shown_name}' yet.")
    return infos


def _foreign_notes(url: str, info: CollectionInfo) -> None:
    """Say when the store is someone else's, and let a vectors-only collection borrow a query model
    once that model reproduces its stored vectors (`check_query_embedder`)."""
    store = current_store()
    notice = getattr(store, "notice", None) if store is not None else None
    if notice:
        st.caption(notice)
    if known_embedder(info.embedder.name) or store is None:
        return
    chosen: dict = st.session_state.setdefault(_QUERY_MODELS, {})
    options = [VECTORS_ONLY] + [spec.name for spec in embedder_choices()  # a shared app: no paid one unless configured
                                if spec.dimension in (0, info.embedder.dimension)]
    current = chosen.get((url, info.name), VECTORS_ONLY)
    pick = st.selectbox("Embed queries with", options, index=options.index(current) if current in options else 0,
                        key=f"query_model_{info.name}",
                        help="These vectors came from elsewhere. A model of ours embeds text queries only once "
                             "it turns a sample of the stored texts into (nearly) the stored vectors.")
    if pick == current:
        return
    if pick == VECTORS_ONLY:
        chosen.pop((url, info.name), None)
        return
    try:
        collection = store.open_collection(info.name, info.embedder, create=False)
        check = check_query_embedder(collection, cached_embedder(pick))
    except ExplorerError as exc:
        st.warning(str(exc))
        return
    if check.matches:
        chosen[(url, info.name)] = pick
        st.caption(check.reason)
    else:
        st.warning(check.reason + "; keyword search, the map and near-duplicates still work")


def sidebar(rules: SharingPolicy) -> None:
    """Store, collection and provider status; writes STORE_URL and COLLECTION to the session."""
    with st.sidebar:
        st.header("Data")
        if rules.shared:
            entry = _shared_store(rules)
            url, shown_name = entry.url, entry.name
        else:
            url = _store_url_input()
            shown_name = masked_url(url or "")
        st.session_state[STORE_URL] = url
        st.session_state[COLLECTION] = None
        infos = _collections(url, rules, shown_name) if url else {}
        if infos:
            names = sorted(infos)
            # The choice lives in a plain session key, not the widget's: a page can set it
            # (pick_collection), and it survives runs where the sidebar is not re-sent.
            wanted = (st.session_state.pop(_PICK, None) or st.session_state.get("sidebar_collection")
                      or st.session_state.get(_CHOSEN)
                      or url_param(URL_COLLECTION))  # a fresh session opened from a copied link
            if wanted not in infos:
                wanted = SAMPLE_COLLECTION if SAMPLE_COLLECTION in infos else names[0]
            st.session_state["sidebar_collection"] = wanted
            chosen = st.selectbox("Collection", names, key="sidebar_collection",
                                  format_func=_collection_label(infos, url, rules))
            st.session_state[_CHOSEN] = st.session_state[COLLECTION] = chosen
            set_url_param(URL_COLLECTION, chosen)
            _foreign_notes(url, infos[chosen])
        st.divider()
        st.subheader("Providers")
        _providers(rules)
