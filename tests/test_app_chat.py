"""The Ask (RAG chat) page under AppTest, on the small real sample store."""
from __future__ import annotations

import re

import pytest

from app_pages import open_page, texts
from fake_llm import FakeLLM

KEY = "sk-test-key"


@pytest.fixture
def chat_page(app_env):
    return open_page("pages/chat.py")


def assistant_markdown(at) -> list[str]:
    return [m.value for message in at.chat_message if message.name == "assistant" for m in message.markdown]


def test_extractive_answer_with_citations_and_context_then_clear(chat_page):
    at = chat_page
    assert at.selectbox(key="chat_provider").value == "extractive"
    captions = " ".join(texts(at.caption))
    assert "OPENAI_API_KEY" in captions and "ANTHROPIC_API_KEY" in captions
    at.chat_input(key="chat_question").set_value("Who is Mr. Bingley?").run()
    assert not at.exception and not at.error
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    [answer] = assistant_markdown(at)
    assert "Bingley" in answer and re.search(r"\\\[\d\\\]", answer)  # [n], escaped for Markdown
    labels = [e.label for e in at.expander]
    assert any("pg1342" in label for label in labels)  # a citation, named by its source
    assert "Retrieved context (5 chunks)" in labels
    assert any("Extractive answer (offline)" in c for c in texts(at.caption))

    at.chat_input(key="chat_question").set_value("How do I write a heading in Markdown?").run()
    assert not at.exception
    assert [m.name for m in at.chat_message] == ["user", "assistant"] * 2
    # Quoted spec text full of Markdown is shown as characters: no unescaped markup reaches st.markdown.
    second = assistant_markdown(at)[1]
    assert re.search(r"[`#>]", second)
    assert not re.search(r"(?<!\\)[`#>\[\]*_]", second.replace("\\\\", ""))

    at.button(key="chat_clear").click().run()
    assert not at.chat_message


def test_openai_answer_streams_from_the_fake(app_env, monkeypatch):
    with FakeLLM(api_key=KEY) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_base_url)
        at = open_page("pages/chat.py")
        at.selectbox(key="chat_provider").set_value("openai").run()
        assert at.text_input(key="chat_model_openai").value == "gpt-4o-mini"
        at.chat_input(key="chat_question").set_value("Who is Mr. Bingley?").run()
    assert not at.exception and not at.error
    [request] = fake.requests
    assert "<context>" in request["body"]["messages"][-1]["content"]
    assert assistant_markdown(at) == [r"The answer is in document 1 \[1\]\."]
    assert "Answered by OpenAI gpt-4o-mini." in texts(at.caption)
    assert any(label.startswith(r"\[1\]") for label in (e.label for e in at.expander))
