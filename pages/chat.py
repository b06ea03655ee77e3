"""Ask: questions answered from the collection, each answer with its [n] citations
and every chunk it was given. Offline the answer is extractive (quoted
sentences); a key or a local server adds a language model that writes it.

Document text and model output are shown as text: the answer goes through
Markdown with every markup character escaped (so a document's ![image](url)
or <tag> shows as those characters), chunks through st.text."""
from __future__ import annotations

import re

import streamlit as st

import ui
from core.errors import ExplorerError
from core.llm import PROVIDERS, Message, available_providers, make_llm
from core.rag import DEFAULT_K, RagAnswer, stream_answer
from core.search import DEFAULT_MODE, MODES
from core.types import Filter

DEFAULT_BASE_URL = "http://localhost:11434/v1"  # Ollama's OpenAI-compatible endpoint
COMPATIBLE = "openai-compatible"
# Every ASCII character Markdown (or Streamlit's :directives:) could treat as markup.
_MARKUP = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$&:=^\"'])")


def as_plain_markdown(text: str) -> str:
    """Markdown that renders exactly `text`: markup escaped, line breaks kept. Works delta by delta."""
    return _MARKUP.sub(r"\\\1", text).replace("\n", "  \n")


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
        model_column.caption("No language model: the sentences of the retrieved chunks closest to the question, "
                             "quoted with their citations.")
        return provider, None, None
    model = model_column.text_input("Model", value=PROVIDERS[provider].default_model or "",
                                    key=f"chat_model_{provider}").strip() or None
    base_url = None
    if provider == COMPATIBLE:
        base_url = url_column.text_input("Base URL", value=DEFAULT_BASE_URL, key="chat_base_url",
                                         help="Ollama: http://localhost:11434/v1 · vLLM: http://host:8000/v1 · "
                                              "llama.cpp server: http://host:8080/v1").strip() or None
    return provider, model, base_url


def show_details(result: RagAnswer) -> None:
    """Who answered, any fallback notice, each citation and the whole retrieved context."""
    if result.notice:
        st.warning(result.notice)
    st.caption("Extractive answer (offline): sentences quoted from the documents, no language model."
               if result.extractive and not result.notice else f"Answered by {result.provider}.")
    for c in result.citations:
        with st.expander(as_plain_markdown(f"[{c.n}] {c.source} · {c.category or 'no category'}")):
            st.text(c.text)
    with st.expander(f"Retrieved context ({len(result.context)} chunks)"):
        for c in result.context:
            st.caption(as_plain_markdown(f"[{c.n}] {c.source} · {c.category or 'no category'}"))
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
k = int(k_column.number_input("Chunks (k)", 1, 20, DEFAULT_K, key="chat_k"))
mode = mode_column.radio("Retrieval", MODES, index=MODES.index(DEFAULT_MODE), horizontal=True, key="chat_mode")
categories, _ = ui.facets(workspace)
chosen = category_column.multiselect("Only these categories", categories, key="chat_categories")
where = Filter(categories=tuple(chosen) or None)

key = history_key(workspace.store.url, workspace.collection.name)
history: list[RagAnswer] = st.session_state.setdefault(key, [])
if clear_column.button("Clear chat", key="chat_clear", disabled=not history):
    history.clear()

for past in history:
    with st.chat_message("user"):
        st.text(past.question)
    with st.chat_message("assistant"):
        st.markdown(as_plain_markdown(past.text))
        show_details(past)

question = st.chat_input(f"Ask about '{workspace.collection.name}'", key="chat_question")
if not question:
    if not history:
        st.info("Ask a question: the answer cites the chunks it comes from as [1], [2], …")
    st.stop()

with st.chat_message("user"):
    st.text(question)
with st.chat_message("assistant"):
    turns = [Message(role, text) for past in history
             for role, text in (("user", past.question), ("assistant", past.text))]
    try:
        llm = make_answerer()
        with st.spinner("Finding the passages…"):
            stream = stream_answer(question, workspace, llm, k=k, mode=mode, where=where, history=turns)
    except ExplorerError as exc:
        st.error(str(exc))
        st.stop()
    st.write_stream(as_plain_markdown(delta) for delta in stream)
    result = stream.answer
    show_details(result)
history.append(result)
