"""The app works the same on every store: the sample collection copied (vectors as
they are) to a Chroma server and to PostgreSQL + pgvector, then chosen in the
sidebar and searched, mapped and asked through the real pages."""
from __future__ import annotations

import re

import pytest

from app_pages import finish_jobs, open_page, texts
from core.config import SAMPLE_COLLECTION
from core.stores import open_store
from core.stores.transfer import copy_collection


@pytest.fixture(params=["chroma-server", "pgvector"])
def server_store(request, sample_store: str) -> tuple[str, str]:
    """(sidebar store kind, URL) of a server holding a copy of the sample collection."""
    if request.param == "chroma-server":
        url = request.getfixturevalue("chroma_server_url")
        kind = "Chroma server"
    else:
        url = request.getfixturevalue("postgres_url")
        kind = "PostgreSQL + pgvector"
    server = open_store(url)
    if SAMPLE_COLLECTION in {c.name for c in server.list_collections()}:
        server.delete_collection(SAMPLE_COLLECTION)  # a copy left by an earlier run may hold other rows
    copy_collection(open_store(sample_store), server, SAMPLE_COLLECTION)
    return kind, url


def choose_store(at, kind: str, url: str) -> None:
    at.sidebar.radio[0].set_value(kind).run()
    if kind == "Chroma server":
        at.sidebar.text_input(key="chroma_address").set_value(url.removeprefix("chroma://")).run()
    else:
        at.sidebar.selectbox(key="pg_source").set_value("another").run()
        at.sidebar.text_input(key="pg_url").set_value(url).run()
    assert not at.exception and not at.sidebar.error, texts(at.sidebar.error)


def test_search_map_and_chat_pages_work_on_server_stores(app_env, server_store):
    kind, url = server_store
    at = open_page("views/search.py")
    choose_store(at, kind, url)
    assert at.session_state["collection"] == SAMPLE_COLLECTION
    at.text_input(key="query").input("Elizabeth Bennet").run()
    assert not at.exception and not at.error
    cards = [h.value for h in at.html if "heading" in h.value]
    assert len(cards) == 10 and "pg1342_pride_and_prejudice.txt" in cards[0]

    finish_jobs(at.switch_page("views/map.py").run())  # the points are read in the background
    assert not at.exception and not at.error
    assert at.get("bidi_component")

    at.switch_page("views/chat.py").run()
    finish_jobs(at.chat_input(key="chat_question").set_value("Who is Robert Walton?").run())  # he signs the letters
    assert not at.exception and not at.error
    answer = " ".join(m.value for m in at.chat_message[-1].markdown)
    assert re.search(r"\\\[\d+\\\]", answer), answer  # a citation, Markdown-escaped: \[1\]
    citations = [h.value for h in at.html if 'class="citation"' in h.value]  # each [n]'s cited chunk
    assert citations and "frankenstein" in " ".join(citations).lower()
