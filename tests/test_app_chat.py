"""The Ask (RAG chat) page under AppTest, on the small real sample store."""
from __future__ import annotations

import re
import threading

import pytest

import core.jobs
import core.rag
from app_pages import finish_jobs, open_page, texts
from core.rag import EXTRACTIVE_READ
from core.samples import EXAMPLE_QUESTIONS
from core.search import DEFAULT_MODE
from fake_llm import FakeLLM

KEY = "sk-test-key"


@pytest.fixture
def chat_page(app_env):
    return open_page("views/chat.py")


def assistant_markdown(at) -> list[str]:
    return [m.value for message in at.chat_message if message.name == "assistant" for m in message.markdown]


def citation_blocks(at) -> list[str]:
    return [h.value for h in at.html if 'class="citation"' in h.value]


def hold_sentence_index(monkeypatch) -> tuple[threading.Event, list[str]]:
    """Makes a collection's sentence index wait for the returned event before it is read or built, so a question's
    answer job stays running; the list gets the name of each collection whose index was asked for."""
    release, asked_for = threading.Event(), []
    real = core.rag.sentence_index

    def held(*args, **kwargs):
        asked_for.append(args[0].name)
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(core.rag, "sentence_index", held)
    return release, asked_for


def test_extractive_answer_with_citations_and_context_then_clear(chat_page):
    at = chat_page
    assert at.selectbox(key="chat_provider").value == "extractive"
    assert at.radio(key="chat_mode").value == DEFAULT_MODE
    captions = " ".join(texts(at.caption))
    assert "OPENAI_API_KEY" in captions and "ANTHROPIC_API_KEY" in captions
    finish_jobs(at.chat_input(key="chat_question").set_value("Who is Mr. Bingley?").run())  # the sentence index
    assert not at.exception and not at.error
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    [answer] = assistant_markdown(at)
    # Each [n] (escaped for Markdown) is a link to the element of citation n of this turn ...
    links = re.findall(r"\[\\\[(\d+)\\\]\]\(#cite-0-(\d+)\)", answer)
    assert "Bingley" in answer and links and all(a == b for a, b in links)
    # ... which exists, names its source, and highlights the sentences quoted from it.
    blocks = citation_blocks(at)
    for n, _ in links:
        [block] = [b for b in blocks if f'id="cite-0-{n}"' in b]
        assert "pg1342" in block and 'class="answer"' in block
    [shown] = [int(m[1]) for e in at.expander if (m := re.fullmatch(r"Retrieved context \((\d+) chunks\)", e.label))]
    assert shown >= EXTRACTIVE_READ  # the retrieved chunks, and any a quote comes from
    assert any("Extractive answer (offline)" in c for c in texts(at.caption))

    finish_jobs(at.chat_input(key="chat_question").set_value("How do I write a heading in Markdown?").run())
    assert not at.exception
    assert [m.name for m in at.chat_message] == ["user", "assistant"] * 2
    # Quoted spec text full of Markdown is shown as characters: no unescaped markup reaches st.markdown
    # but our own [n] links; in the citations it is HTML-escaped.
    second = re.sub(r"\[\\\[\d+\\\]\]\(#cite-1-\d+\)", "", assistant_markdown(at)[1])
    assert re.search(r"[`#>]", second)
    assert not re.search(r"(?<!\\)[`#>\[\]*_]", second.replace("\\\\", ""))
    assert not any("<h1" in b or "<code" in b for b in citation_blocks(at))

    at.button(key="chat_clear").click().run()
    assert not at.chat_message


def test_openai_answer_streams_from_the_fake(app_env, monkeypatch):
    with FakeLLM(api_key=KEY) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_base_url)
        at = open_page("views/chat.py")
        at.selectbox(key="chat_provider").set_value("openai").run()
        assert at.text_input(key="chat_model_openai").value == "gpt-4o-mini"
        finish_jobs(at.chat_input(key="chat_question").set_value("Who is Mr. Bingley?").run())
    assert not at.exception and not at.error
    [request] = fake.requests
    assert "<context>" in request["body"]["messages"][-1]["content"]
    assert assistant_markdown(at) == [r"The answer is in document 1 [\[1\]](#cite-0-1)\."]
    assert "Answered by OpenAI gpt-4o-mini." in texts(at.caption)
    [block] = citation_blocks(at)
    assert 'id="cite-0-1"' in block and 'class="answer"' not in block  # a model's words are not quotes


def test_example_questions_are_asked_with_one_click(chat_page):
    at = chat_page
    finish_jobs(at.button(key="chat_example_0").click().run())
    assert not at.exception and not at.error
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert at.chat_message[0].text[0].value == EXAMPLE_QUESTIONS[0]
    assert citation_blocks(at)


def test_an_answer_goes_on_while_the_visitor_is_away(chat_page, monkeypatch):
    """An answer is written by a background job of the session (here it waits for a collection version's first
    sentence index): the question and a spinner show, leaving the page and coming back shows both again (the same
    job, not cancelled, not restarted); a question asked meanwhile waits its turn; then both answers, once."""
    release, builds = hold_sentence_index(monkeypatch)
    at = chat_page
    try:
        at.chat_input(key="chat_question").set_value("Who is Mr. Bingley?").run()
        job = at.session_state["_jobs"]["chat_answer"]
        assert job.running and [m.name for m in at.chat_message] == ["user", "assistant"]
        assert "Finding and reading the passages" in str(at.chat_message[1])
        at.switch_page("views/search.py").run()
        at.switch_page("views/chat.py").run()
        assert at.session_state["_jobs"]["chat_answer"] is job and job.running
        assert at.chat_message[0].text[0].value == "Who is Mr. Bingley?"
        at.chat_input(key="chat_question").set_value("Who is Mr. Darcy?").run()  # asked meanwhile: waits its turn
        assert at.session_state["_jobs"]["chat_answer"] is job
        assert [m.text[0].value for m in at.chat_message if m.name == "user"] == ["Who is Mr. Bingley?",
                                                                                  "Who is Mr. Darcy?"]
    finally:
        release.set()
    finish_jobs(at)
    assert not at.exception and not at.error
    answers = assistant_markdown(at)
    assert len(answers) == 2 and "Bingley" in answers[0] and "Darcy" in answers[1] and len(builds) == 2
    at.run()  # each answered once: no question is asked again
    assert [m.name for m in at.chat_message] == ["user", "assistant"] * 2


def test_a_failed_answer_keeps_its_question_to_ask_again(chat_page, monkeypatch):
    from core.errors import ExplorerError

    real = core.rag.stream_answer

    def failing(*args, **kwargs):
        raise ExplorerError("the store cannot be reached")

    monkeypatch.setattr(core.rag, "stream_answer", failing)
    at = finish_jobs(chat_page.chat_input(key="chat_question").set_value("Who is Mr. Bingley?").run())
    assert at.chat_message[0].text[0].value == "Who is Mr. Bingley?"
    assert "the store cannot be reached" in at.error[0].value
    monkeypatch.setattr(core.rag, "stream_answer", real)
    finish_jobs(at.button(key="chat_ask_again").click().run())
    assert not at.error and "Bingley" in assistant_markdown(at)[0]


def test_a_question_is_answered_from_the_collection_it_was_asked_of(tmp_path, monkeypatch, minilm):
    """Changing collection while an answer is written: the answer goes into the chat of the collection it was asked
    of (only a line about it shows on the other), and a question asked of the other collection meanwhile waits,
    then is answered from that one."""
    from core.config import DEFAULT_CHUNKING
    from core.pipeline import Upload, ingest
    from core.stores import open_store

    store = open_store(str(tmp_path / "store"))
    for name, text in (("notes", "# Owls\n\nOwls hunt at night. Their feathers are soft, so their flight is silent.\n"),
                       ("ships", "# Airships\n\nAirships are lifted by helium gas held in large cells.\n")):
        ingest([Upload(f"{name}.md", text.encode())], store.open_collection(name, minilm.info), minilm,
               DEFAULT_CHUNKING)
    monkeypatch.setenv("EXPLORER_STORE", str(tmp_path / "store"))
    release, _ = hold_sentence_index(monkeypatch)
    at = open_page("views/chat.py")
    try:
        at.sidebar.selectbox(key="sidebar_collection").set_value("notes").run()
        at.chat_input(key="chat_question").set_value("Why is the flight of owls silent?").run()
        at.sidebar.selectbox(key="sidebar_collection").set_value("ships").run()
        elsewhere = [c.value for c in at.caption if c.value.startswith("Answering")]
        assert not at.chat_message and len(elsewhere) == 1 and "notes" in elsewhere[0]
        at.chat_input(key="chat_question").set_value("What gas lifts an airship?").run()
        assert [m.text[0].value for m in at.chat_message] == ["What gas lifts an airship?"]  # waiting its turn
    finally:
        release.set()
    finish_jobs(at)
    assert not at.exception and not at.error
    assert [m.text[0].value for m in at.chat_message if m.name == "user"] == ["What gas lifts an airship?"]
    assert "helium" in assistant_markdown(at)[0]
    at.sidebar.selectbox(key="sidebar_collection").set_value("notes").run()
    assert [m.text[0].value for m in at.chat_message if m.name == "user"] == ["Why is the flight of owls silent?"]
    assert "feathers" in assistant_markdown(at)[0]


def test_a_waiting_question_is_answered_by_the_model_chosen_when_it_was_asked(app_env, monkeypatch):
    """A question waiting its turn keeps the model it was asked with: changing "Answer with" meanwhile changes the
    questions asked after, not it."""
    release, _ = hold_sentence_index(monkeypatch)
    with FakeLLM(api_key=KEY) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_base_url)
        at = open_page("views/chat.py")
        try:
            at.chat_input(key="chat_question").set_value("Who is Mr. Bingley?").run()  # extractive, held
            at.chat_input(key="chat_question").set_value("Who is Mr. Darcy?").run()  # extractive, waiting
            at.selectbox(key="chat_provider").set_value("openai").run()
            at.chat_input(key="chat_question").set_value("Who is Jane?").run()  # OpenAI, waiting
        finally:
            release.set()
        finish_jobs(at)
    assert not at.exception and not at.error
    assert [m.text[0].value for m in at.chat_message if m.name == "user"] == [
        "Who is Mr. Bingley?", "Who is Mr. Darcy?", "Who is Jane?"]
    answered_by = [c for c in texts(at.caption) if c.startswith(("Extractive answer", "Answered by"))]
    assert [c.split()[0] for c in answered_by] == ["Extractive", "Extractive", "Answered"]
    assert len(fake.requests) == 1 and "Who is Jane?" in fake.requests[0]["body"]["messages"][-1]["content"]
