"""Waits you can see and links that are views, in the real app in headless Chromium.

- Ask shows its spinner before the answer, timed in the page (MutationObserver, performance.now()).
- A vector import goes on while the visitor is on another page; back on the Library it is finished.
- So does an answer being written: back on Ask, the question and the answer so far, then all of it.
- So does a chunking sweep: back on its page, the choices and then the scores of the sweep started before.
- A URL copied from one session (collection, query, map method and colouring) opens the same view
  in a fresh browser session.
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Iterator

import pytest

from browser_fixtures import app_tab, free_port, start_app, stop_app
from core.config import DEFAULT_CHUNKING
from core.pipeline import LoadOptions, ingest
from core.samples import samples
from core.stores import open_store

pytestmark = pytest.mark.browser

SPINNER = "Finding and reading the passages"
# Records, in the page's own clock, when the question was sent, when the spinner first showed
# and when the answer's first words did.
WATCH = """() => {
  window.__marks = {};
  const mark = (name) => { if (!(name in window.__marks)) window.__marks[name] = performance.now(); };
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target.matches('[data-testid="stChatInputTextArea"]')) mark('asked');
  }, true);
  new MutationObserver(() => {
    if (!('asked' in window.__marks)) return;
    if (document.body.innerText.includes('%s')) mark('spinner');
    const bubbles = document.querySelectorAll('[data-testid="stChatMessage"]');
    if (bubbles.length > 1 && /\\[\\d+\\]/.test(bubbles[1].innerText)) mark('answer');
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
}""" % SPINNER


def test_ask_shows_a_spinner_before_the_answer(browser_page, record_property):
    tab = browser_page
    tab.open("chat")
    tab.page.evaluate(WATCH)
    box = tab.page.locator('[data-testid="stChatInputTextArea"]')
    box.fill("Who is Mr. Bingley?")
    box.press("Enter")
    tab.page.wait_for_function("() => 'answer' in window.__marks", timeout=120_000)
    tab.settle()
    marks = tab.page.evaluate("window.__marks")
    assert "spinner" in marks, marks  # it showed at all
    assert marks["asked"] <= marks["spinner"] < marks["answer"], marks
    delay_ms = marks["spinner"] - marks["asked"]
    record_property("spinner_delay_ms", round(delay_ms))
    print(f"spinner {delay_ms:.0f} ms after asking, answer {marks['answer'] - marks['asked']:.0f} ms")
    assert SPINNER not in tab.page.locator('[data-testid="stMainBlockContainer"]').inner_text()  # gone after
    assert tab.exceptions() == []


@pytest.fixture(scope="module")
def linked_app(tmp_path_factory, minilm) -> Iterator[str]:
    """An app of its own on a store with two collections ("alpha" and "beta", the opening of
    Frankenstein), so a link that names one of them is tested against a default of the other."""
    store = tmp_path_factory.mktemp("linked-store")
    frankenstein = next(s for s in samples() if "frankenstein" in s.path.name)
    for name in ("alpha", "beta"):
        collection = open_store(str(store)).open_collection(name, minilm.info)
        ingest([frankenstein.upload(30_000)], collection, minilm, DEFAULT_CHUNKING, LoadOptions(category=name))
    port = free_port()
    process = start_app(str(store), port, tmp_path_factory.mktemp("linked-streamlit") / "server.log")
    yield f"http://127.0.0.1:{port}"
    stop_app(process)


def pick(tab, label: str, option: str, sidebar: bool = False) -> None:
    scope = '[data-testid="stSidebar"] ' if sidebar else ""
    tab.page.locator(f'{scope}[data-testid="stSelectbox"]').filter(has_text=label).click()
    tab.page.get_by_role("option").filter(has_text=re.compile(rf"^{re.escape(option)}")).first.click()
    tab.settle()


def chosen(tab, label: str, sidebar: bool = False, anywhere: bool = False) -> str:
    """What a select box shows as chosen (`anywhere`: also in an open popover)."""
    scope = "" if anywhere else '[data-testid="stSidebar"] ' if sidebar else '[data-testid="stMainBlockContainer"] '
    return tab.page.locator(f'{scope}[data-testid="stSelectbox"]').filter(has_text=label).locator(
        "input").first.input_value()


def open_layout(tab) -> None:
    """Open the map's Layout popover (method, dimensions, ...)."""
    tab.page.locator('[data-testid="stPopover"]').filter(has_text="Layout").locator("button").first.click()
    tab.page.locator('[data-testid="stSelectbox"]').filter(has_text="Method").first.wait_for()


def sidebar_collection(tab) -> str:
    return chosen(tab, "Collection", sidebar=True)


def test_a_copied_url_opens_the_same_collection_query_and_map_in_a_fresh_session(chromium, linked_app):
    with app_tab(chromium, linked_app) as tab:
        tab.open()
        assert "alpha" in sidebar_collection(tab)  # the first by name is the default
        pick(tab, "Collection", "beta", sidebar=True)
        tab.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Hybrid search").click()
        tab.page.get_by_label("Query").fill("the sledge on the ice")
        tab.page.get_by_label("Query").press("Enter")
        tab.page.get_by_text(re.compile(r"^#1 · ")).first.wait_for()
        tab.settle()
        search_url = tab.page.url
        tab.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Embedding map").click()
        tab.settle()
        open_layout(tab)  # the layout settings fold into a popover beside the map
        pick(tab, "Method", "t-SNE")
        tab.page.keyboard.press("Escape")
        pick(tab, "Colour by", "source")
        # The URL is written by the run each pick starts; settle() can return before that run has begun.
        tab.page.wait_for_url(re.compile(r"method=tsne.*colour=source|colour=source.*method=tsne"))
        tab.page.locator(".emap[data-points]").first.wait_for()
        tab.settle()
        map_url = tab.page.url
    assert "collection=beta" in search_url and "q=the+sledge+on+the+ice" in search_url.replace("%20", "+")
    assert "collection=beta" in map_url and "method=tsne" in map_url and "colour=source" in map_url

    with app_tab(chromium, linked_app) as fresh:  # a colleague opens the links: a new browser session
        fresh.page.goto(search_url)
        fresh.settle()
        fresh.page.get_by_text(re.compile(r"^#1 · ")).first.wait_for()
        assert "beta" in sidebar_collection(fresh)
        assert fresh.page.get_by_label("Query").input_value() == "the sledge on the ice"
        fresh.page.goto(map_url)
        fresh.settle()
        fresh.page.locator(".emap[data-points]").first.wait_for()
        assert "beta" in sidebar_collection(fresh) and chosen(fresh, "Colour by") == "source"
        open_layout(fresh)
        assert "t-SNE" in chosen(fresh, "Method", anywhere=True)
        assert fresh.exceptions() == []


def test_an_import_goes_on_while_the_visitor_is_on_another_page(chromium, linked_app, tmp_path: Path):
    """Started on the Library's second tab, left for the search page, back: the import finished without the page,
    and the Library opens the new collection and says so, on the tab the visitor was on."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 20_000  # a few seconds of work: long enough to leave the page in the middle of it
    vectors = np.random.default_rng(0).normal(size=(rows, 32)).astype(np.float32)
    table = pa.table({"id": [f"r{i}" for i in range(rows)], "body": [f"row {i}" for i in range(rows)],
                      "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 32)})
    path = tmp_path / "elsewhere.parquet"
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=1_000)
    path.write_bytes(buffer.getvalue())
    with app_tab(chromium, linked_app) as tab:
        tab.open()
        tab.page.get_by_role("tab", name="Collections & documents").click()
        tab.page.locator('[data-testid="stFileUploader"]').filter(has_text="Vector file").locator(
            'input[type="file"]').set_input_files(str(path))
        tab.settle()
        tab.page.get_by_label("Into collection").fill("elsewhere")
        tab.page.get_by_label("Text column").last.fill("body")
        tab.page.get_by_label("Text column").last.press("Enter")
        tab.settle()
        tab.page.get_by_role("button", name="Import").click()
        tab.page.get_by_text(re.compile(r"Importing elsewhere\.parquet into 'elsewhere'")).first.wait_for()
        tab.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Hybrid search").click()
        tab.settle()
        tab.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Library").click()
        tab.settle()
        # Back on the tab it was left on; done, the Library opens the new collection (a rerun) and says so there.
        tab.page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stSidebar"] input')]
            .some(i => i.value.includes('elsewhere'))""", timeout=300_000)
        tab.settle()
        tab.page.get_by_text(f"imported {rows:,} vectors").wait_for()  # visible: its tab is still the one shown
        assert tab.page.get_by_role("tab", selected=True).inner_text() == "Collections & documents"
        assert "elsewhere" in sidebar_collection(tab)
        assert tab.exceptions() == []


# Set when the assistant's bubble shows some of the answer's words before the whole answer is in.
PARTIAL = """() => {
  new MutationObserver(() => {
    const bubbles = document.querySelectorAll('[data-testid="stChatMessage"]');
    const text = bubbles.length > 1 ? bubbles[1].innerText : '';
    if (text.includes('The answer') && !text.includes('document 1')) window.__partial = true;
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


def test_an_answer_goes_on_while_the_visitor_is_on_another_page(chromium, linked_app):
    """A model writing slowly: leave for the search page after its first words, come back: the question and the
    answer so far show again, then the whole answer, without asking again."""
    from fake_llm import FakeLLM
    from core.llm import KEYLESS

    with FakeLLM(api_key=KEYLESS, pace=1.0) as fake, app_tab(chromium, linked_app) as tab:
        tab.open("chat")
        pick(tab, "Answer with", "OpenAI-compatible server")
        base_url = tab.page.get_by_role("textbox", name="Base URL")
        base_url.fill(fake.openai_base_url)
        base_url.press("Enter")
        tab.settle()
        box = tab.page.locator('[data-testid="stChatInputTextArea"]')
        box.fill("Who is Walton?")
        box.press("Enter")
        answer = tab.page.locator('[data-testid="stChatMessage"]').nth(1)
        answer.get_by_text(re.compile("^The answer")).wait_for()  # its first words
        tab.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Hybrid search").click()
        tab.page.get_by_label("Query").wait_for()
        tab.page.evaluate(PARTIAL)
        tab.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Ask (RAG chat)").click()
        tab.page.locator('[data-testid="stChatMessage"]').first.get_by_text("Who is Walton?").wait_for()
        answer.get_by_text(re.compile("Answered by")).wait_for()
        assert tab.page.evaluate("window.__partial === true")  # the answer so far showed on return
        assert "The answer is in document 1" in answer.inner_text()
        assert len(fake.requests) == 1 and tab.exceptions() == []


def test_a_sweep_goes_on_while_the_visitor_is_on_another_page(chromium, linked_app):
    """Run sweep, leave for the search page while its bar shows, come back: the page has the choices it was
    started with and shows that sweep's scores, without Run sweep pressed again."""
    # Characters of each sample no earlier run used: the sweep's disk cache (data/cache/sweeps) cannot answer at once.
    chars = str(3_000 + os.getpid() % 2_000)
    with app_tab(chromium, linked_app) as tab:
        tab.open("sweep")
        box = tab.page.get_by_label(re.compile("^Characters read from each sample"))
        box.fill(chars)
        box.press("Enter")
        tab.page.get_by_text(re.compile(r"new setting\(s\) on this machine")).first.wait_for()
        tab.settle()
        tab.page.get_by_role("button", name="Run sweep").click()
        tab.page.get_by_text(re.compile(r"Sweeping 3 setting\(s\) with minilm")).first.wait_for()
        tab.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Hybrid search").click()
        tab.page.get_by_label("Query").wait_for()
        tab.settle()
        tab.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Chunking sweep").click()
        tab.page.get_by_text("Best nDCG@10").wait_for(timeout=300_000)
        assert tab.page.get_by_label(re.compile("^Characters read from each sample")).input_value() == chars
        assert tab.exceptions() == []
