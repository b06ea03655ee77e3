"""Ask: questions answered from the collection, each answer with its [n] citations
and every chunk it was given. Offline the answer is extractive (quoted
sentences); a key or a local server adds a language model that writes it.

Each [n] in an answer links to its citation below it, where the quoted
sentences are highlighted inside the chunk.

An answer is written by a background job of the session: leaving the page
does not stop it, and coming back shows the question and the answer so far.

Document text and model output are shown as text: the answer goes through
Markdown with every markup character escaped (so a document's ![image](url)
or <tag> shows as those characters) and only our own [n] links added; a cited
chunk is HTML-escaped piece by piece (ui.segments_html), only our marks are markup."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Callable

import streamlit as st

import ui
from core.errors import ExplorerError
from core.highlight import quote_segments
from core.jobs import Job
from core.llm import LLM, PROVIDERS, Message, available_providers, make_llm
from core.markup import markdown_text
from core.rag import CITATION, DEFAULT_K, Citation, RagAnswer, stream_answer
from core.samples import example_questions
from core.search import DEFAULT_MODE, MODES, Mode
from core.types import Filter, ProgressCallback
from core.workspace import Workspace

DEFAULT_BASE_URL = "http://localhost:11434/v1"  # Ollama's OpenAI-compatible endpoint
COMPATIBLE = "openai-compatible"
ANSWER_JOB = "chat_answer"  # the answer being written: a background job of the session, leaving the page stops nothing
_ASKED = "_chat_asked"  # the Asked that job answers
_QUEUED = "_chat_queued"  # Askeds asked while another was answered: asked in turn, never dropped
_UNANSWERED = "_chat_unanswered"  # the Unanswered of the last answer that failed: shown, with Ask again
WORKING = "Finding and reading the passages…"


@dataclass
class Asked:
    """A question and what it was asked of (the collection, whose chat history it goes into, the retrieval
    settings and the model chosen then), answered in the background; its answer's text so far (the job's thread
    adds each piece as the model writes it; the page shows them, also after leaving and coming back)."""

    history: str
    question: str
    workspace: Workspace
    k: int
    mode: Mode
    where: Filter
    answerer: Callable[[], LLM | None]
    written: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Unanswered:
    """A question whose answer failed, in the chat of the collection it was asked of, and why."""

    history: str
    question: str
    why: str


def as_plain_markdown(text: str) -> str:
    """Markdown that renders exactly `text`: markup escaped, line breaks kept. Works delta by delta."""
    return markdown_text(text).replace("\n", "  \n")


def linked_markdown(text: str, turn: int) -> str:
    """`as_plain_markdown(text)` with each [n] a link to citation n of this turn (an in-page anchor)."""
    pieces, position = [], 0
    for match in CITATION.finditer(text):
        pieces.append(as_plain_markdown(text[position:match.start()]))
        pieces.append("".join(f"[\\[{int(n)}\\]](#{citation_anchor(turn, int(n))})" for n in match.group(1).split(",")))
        position = match.end()
    pieces.append(as_plain_markdown(text[position:]))
    return "".join(pieces)


def citation_anchor(turn: int, n: int) -> str:
    return f"cite-{turn}-{n}"


def citation_html(result: RagAnswer, citation: Citation, turn: int) -> str:
    """A cited chunk with the answer's sentences from it highlighted, under an id [n] links to."""
    spans = [(q.start, q.end) for q in result.quotes if q.n == citation.n]
    name = ui.document_names(workspace)(citation.document)
    heading = html.escape(f"[{citation.n}] {name} · {citation.category or 'no category'}")
    return (f'<div id="{citation_anchor(turn, citation.n)}" class="citation" '
            'style="border:1px solid #cbd5e1;border-radius:0.5rem;padding:0.5rem 0.75rem;margin:0.25rem 0;">'
            f'<div style="font-weight:700;color:#334155;">{heading}</div>'
            f'{ui.segments_html(quote_segments(citation.text, spans))}</div>')


def history_key(url: str, collection: str) -> str:
    return f"chat_history::{url}::{collection}"


def provider_controls() -> tuple[str, str | None, str | None]:
    """The chosen provider, model and base URL; captions say how to enable the missing ones."""
    options = [*available_providers(), COMPATIBLE]
    provider_column, model_column, url_column = st.columns([2, 2, 3])
    provider = provider_column.selectbox("Answer with", options, format_func=lambda n: PROVIDERS[n].label,
                                         key="chat_provider")
    missing = [PROVIDERS[n] for n in ("openai", "anthropic") if n not in options]
    if missing:
        provider_column.caption(" · ".join(f"{s.label} answers need {s.needs}" for s in missing)
                                + " (environment or .streamlit/secrets.toml)")
    if provider == "extractive":
        model_column.caption("No language model: the sentences of the collection that best answer the question, "
                             "quoted with their citations (the first question of a collection version splits and "
                             "embeds its sentences once).")
        return provider, None, None
    model = model_column.text_input("Model", value=PROVIDERS[provider].default_model or "",
                                    key=f"chat_model_{provider}").strip() or None
    base_url = None
    if provider == COMPATIBLE:
        base_url = url_column.text_input("Base URL", value=DEFAULT_BASE_URL, key="chat_base_url",
                                         help="Ollama: http://localhost:11434/v1 · vLLM: http://host:8000/v1 · "
                                              "llama.cpp server: http://host:8080/v1").strip() or None
    return provider, model, base_url


def show_details(result: RagAnswer, turn: int) -> None:
    """Who answered, any fallback notice, each citation (the quoted sentences highlighted)
    and the whole retrieved context."""
    if result.notice:
        st.warning(result.notice)
    st.caption("Extractive answer (offline): sentences quoted from the documents, no language model; "
               "highlighted where they sit in the chunks they cite."
               if result.extractive and not result.notice else f"Answered by {result.provider}.")
    for c in result.citations:
        st.html(citation_html(result, c, turn))
    with st.expander(f"Retrieved context ({len(result.context)} chunks)"):
        for c in result.context:
            st.caption(as_plain_markdown(f"[{c.n}] {ui.document_names(workspace)(c.document)} · "
                                         f"{c.category or 'no category'}"))
            st.text(c.text)


st.title("Ask your documents")
workspace = ui.current_workspace()
if workspace is None:
    st.stop()

if ui.policy().shared:  # configured endpoints only: no typed base URL ever receives a server key
    make_answerer = ui.configured_llm()
else:
    provider, model, base_url = provider_controls()
    make_answerer = lambda: make_llm(provider, model, base_url)  # noqa: E731
k_column, mode_column, category_column, clear_column = st.columns([1, 2, 3, 1])
k = int(k_column.number_input("Chunks (k)", 1, *ui.limits().fit("k", 20, DEFAULT_K), key="chat_k"))
mode = mode_column.radio("Retrieval", MODES, index=MODES.index(DEFAULT_MODE), horizontal=True, key="chat_mode")
categories, _ = ui.facets(workspace)
chosen = category_column.multiselect("Only these categories", categories, key="chat_categories")
where = Filter(categories=tuple(chosen) or None)

key = history_key(workspace.store.url, workspace.collection.name)
history: list[RagAnswer] = st.session_state.setdefault(key, [])
if clear_column.button("Clear chat", key="chat_clear", disabled=not history):
    history.clear()
    st.session_state.pop(_UNANSWERED, None)

for turn, past in enumerate(history):
    with st.chat_message("user"):
        st.text(past.question)
    with st.chat_message("assistant"):
        st.markdown(linked_markdown(past.text, turn))
        show_details(past, turn)


def ask_example(text: str) -> None:
    st.session_state["chat_example"] = text


def ask(asked: Asked) -> None:
    """Answer a question in a background job of the session, from the collection it was asked of and after the
    turns of that collection's chat: retrieval, the sentence index a collection version's first extractive
    question builds (seconds, minutes for a large collection), then the answer as it is written. A provider
    that cannot be set up leaves the question unanswered, said with it."""
    turns = [Message(role, text) for past in st.session_state.get(asked.history, [])
             for role, text in (("user", past.question), ("assistant", past.text))]
    try:
        llm = asked.answerer()
    except ExplorerError as exc:
        st.session_state[_UNANSWERED] = Unanswered(asked.history, asked.question, str(exc))
        return
    st.session_state[_ASKED] = asked

    def write(progress: ProgressCallback) -> RagAnswer:
        stream = stream_answer(asked.question, asked.workspace, llm, k=asked.k, mode=asked.mode, where=asked.where,
                               history=turns, progress=progress)
        for delta in stream:
            asked.written.append(delta)
        return stream.answer

    ui.run_in_background(ANSWER_JOB, f"Answering “{asked.question[:60]}”", write)


def answer_so_far(job: Job) -> None:
    """The question being answered and its answer as written so far: a spinner until the first words (with the
    sentence index's bar while it is built), the words as they come. Of another collection: a line saying so."""
    asked: Asked = st.session_state[_ASKED]
    if asked.history != key:
        st.caption(as_plain_markdown(f"Answering “{asked.question[:60]}” in collection "
                                     f"'{asked.workspace.collection.name}': it shows in that collection's chat."))
        return
    with st.chat_message("user"):
        st.text(asked.question)
    with st.chat_message("assistant"):
        text = "".join(asked.written)
        if text:
            st.markdown(as_plain_markdown(text))
        else:
            st.status(WORKING, state="running")
            if job.progress is not None:
                ui.job_bar(job)
        st.caption("This goes on if you open another page: the answer is here when you come back.")


def settle(job: Job) -> None:
    """A finished answer into the history it was asked in; a failed one kept with its question, to be asked again."""
    asked: Asked = st.session_state.pop(_ASKED)
    if job.error:
        st.session_state[_UNANSWERED] = Unanswered(asked.history, asked.question, job.error)
    else:
        st.session_state.setdefault(asked.history, []).append(job.result)


queued: list[Asked] = st.session_state.setdefault(_QUEUED, [])
question = st.chat_input(f"Ask about '{workspace.collection.name}'", key="chat_question",
                         max_chars=ui.limits().query_chars) or st.session_state.pop("chat_example", None)
if question:
    st.session_state.pop(_UNANSWERED, None)
    queued.append(Asked(key, question, workspace, k, mode, where, make_answerer))
if queued and ui.background_job(ANSWER_JOB) is None:
    ask(queued.pop(0))
if ended := ui.finished_job(ANSWER_JOB, show=answer_so_far):
    settle(ended)
    st.rerun()  # shown in the history; the next question asked
for waiting in queued:
    if waiting.history == key:
        with st.chat_message("user"):
            st.text(waiting.question)
            st.caption("Asked while another answer is written: answered next.")
unanswered: Unanswered | None = st.session_state.get(_UNANSWERED)
if unanswered is not None and unanswered.history != key:
    unanswered = None  # another collection's: shown in its chat
if unanswered is not None:
    with st.chat_message("user"):
        st.text(unanswered.question)
    with st.chat_message("assistant"):
        st.error(f"No answer: {unanswered.why}")
        st.button("Ask again", key="chat_ask_again", on_click=ask_example, args=(unanswered.question,))

examples = example_questions(workspace.collection.name)
if examples:
    st.caption("Try one of these:")
    for number, (column, text) in enumerate(zip(st.columns(len(examples)), examples)):
        column.button(text, key=f"chat_example_{number}", on_click=ask_example, args=(text,), width="stretch")
if not history and ui.background_job(ANSWER_JOB) is None and unanswered is None:
    st.info("Ask a question: the answer cites the chunks it comes from as [1], [2], …")
