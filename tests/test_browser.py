"""The real app in headless Chromium: every page opens cleanly, search and chat
work on the sample data, the map draws, and a hostile document stays text."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser_fixtures import PAGE_PATHS
from core.config import DEFAULT_CHUNKING, ROOT
from core.pipeline import LoadOptions, Upload, ingest
from core.samples import EXAMPLE_QUESTIONS
from core.stores import open_store

pytestmark = pytest.mark.browser
SCREENSHOTS = ROOT / "docs" / "screenshots"

HOSTILE = ("# Release notes\n\nThe parser now rejects <script>window.__pwned=1</script> in titles.\n\n"
           "Images such as ![x](http://127.0.0.1:9/x.png) are no longer fetched by the parser.\n")


def ask(tab, question: str) -> str:
    """Ask on the chat page (already open); returns the answer's text."""
    box = tab.page.locator('[data-testid="stChatInputTextArea"]')
    box.fill(question)
    box.press("Enter")
    answer = tab.page.locator('[data-testid="stChatMessage"]').nth(1)
    # The answer's caption says who answered (a version's first question waits for its sentence index first). The
    # answer is written by a background job: once done it is drawn anew in the history, not in the bubble shown first.
    answer.filter(has_text=re.compile("Extractive answer|Answered by")).wait_for(timeout=120_000)
    tab.settle()
    return answer.inner_text()


def search(tab, query: str) -> None:
    tab.page.get_by_label("Query").fill(query)
    tab.page.get_by_label("Query").press("Enter")
    tab.page.get_by_text(re.compile(r"^#1 · ")).first.wait_for()
    tab.settle()


def test_every_page_opens_and_the_map_draws(browser_page):
    tab = browser_page
    for path in PAGE_PATHS:
        tab.open(path)
        tab.page.locator("h1").first.wait_for()
        assert tab.exceptions() == [], f"/{path}"
        assert not tab.page.locator('[data-testid="stSidebar"] [data-testid="stAlertContentError"]').count()
        if path == "map":
            tab.page.locator(".emap[data-points]").wait_for()
    links = tab.page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()
    assert len(links) == len(PAGE_PATHS)


def test_search_finds_and_highlights(browser_page):
    tab = browser_page
    tab.open("search")
    search(tab, "Elizabeth Bennet")
    cards = tab.page.get_by_text(re.compile(r"^#\d+ · "))
    assert cards.count() == 10
    assert tab.page.locator("span.term").filter(has_text="Elizabeth").count() > 0
    assert tab.exceptions() == []


def test_chat_answers_with_a_citation(browser_page):
    tab = browser_page
    tab.open("chat")
    # The excerpt store holds Walton's letters, where Victor is not yet named: asked about him, the answerer
    # rightly says no passage answers; Walton signs the letters.
    assert re.search(r"\[\d+\]", ask(tab, "Who is Robert Walton?"))
    assert tab.exceptions() == []


def test_chat_citation_link_jumps_to_the_highlighted_sentence(browser_page):
    from playwright.sync_api import expect

    tab = browser_page
    tab.open("chat")
    tab.page.get_by_role("button", name=EXAMPLE_QUESTIONS[0]).click()  # an example question, one click
    tab.page.locator('[data-testid="stChatMessage"]').nth(1).wait_for()
    tab.settle()
    link = tab.page.locator('[data-testid="stChatMessage"] a[href^="#cite-0-"]').last
    target = tab.page.locator(link.get_attribute("href"))
    expect(target.locator("span.answer").first).to_be_attached()  # the quoted sentence, highlighted
    tab.page.set_viewport_size({"width": 1400, "height": 420})
    link.scroll_into_view_if_needed()
    before = target.bounding_box()["y"]
    link.click()
    expect(target).to_be_in_viewport()
    for _ in range(30):  # the jump puts the citation at the top (smooth scrolling may take a moment)
        after = target.bounding_box()["y"]
        if after < 120:
            break
        tab.page.wait_for_timeout(100)
    assert after < before - 100 and after < 120, (before, after)
    tab.page.set_viewport_size({"width": 1400, "height": 900})
    target.evaluate("element => element.scrollIntoView({block: 'end'})")  # the answer and the citation it links
    assert tab.page.url.endswith(link.get_attribute("href")) and len(tab.page.context.pages) == 1  # same tab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(SCREENSHOTS / "chat-citation.png"))
    assert tab.exceptions() == []


def test_hostile_document_is_shown_as_text(browser_page, tmp_path: Path, minilm):
    store = tmp_path / "hostile-store"
    collection = open_store(str(store)).open_collection("hostile", minilm.info)
    ingest([Upload("hostile.md", HOSTILE.encode())], collection, minilm, DEFAULT_CHUNKING)
    tab = browser_page
    folder = tab.page.get_by_label("Folder", exact=True)
    folder.fill(str(store))
    folder.press("Enter")
    tab.page.locator('[data-testid="stSidebar"] input[value^="hostile · minilm"]').wait_for(state="attached")
    tab.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Hybrid search").click()
    search(tab, "parser script window pwned images")
    body = tab.page.locator('[data-testid="stMainBlockContainer"]').inner_text()
    assert "<script>window.__pwned=1</script>" in body
    assert "![x](http://127.0.0.1:9/x.png)" in body
    tab.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Ask (RAG chat)").click()
    ask(tab, "What does the parser reject in titles?")
    tab.page.get_by_text("Retrieved context").first.click()
    assert "<script>window.__pwned=1</script>" in tab.page.locator('[data-testid="stMainBlockContainer"]').inner_text()
    assert tab.page.evaluate("window.__pwned") is None
    assert not [url for url in tab.requests if "127.0.0.1:9/" in url]
    assert tab.exceptions() == []


HOSTILE_MARKUP = ('# Markup in documents\n\nAn inline <svg onload="window.__pwned=2"><circle r="40"/></svg> drawing.\n\n'
                  "A [markdown link](javascript:window.__pwned=3) and "
                  '<a href="javascript:window.__pwned=4">an HTML link</a> and <img src="x" onerror="window.__pwned=5">.\n')
HOSTILE_CSV = ('text,label\n"<b>Bold</b> review <img src=x onerror=window.__pwned=6> of the gadget",review\n'
               '"<svg/onload=window.__pwned=7> second review with <a href=\'javascript:window.__pwned=8\'>a link</a>",review\n')
HOSTILE_PDF_LINES = ["Quarterly <script>window.__pwned=9</script> minutes", "<svg onload=window.__pwned=10> and",
                     "[slides](javascript:window.__pwned=11) for the gadget review"]


def test_svg_links_csv_cells_and_pdf_text_stay_text(browser_page, tmp_path: Path, minilm):
    """SVG, javascript: links (Markdown and HTML), HTML in CSV cells and in a PDF's text layer: shown as the
    characters they are on the search and chat pages; nothing runs, no live link or SVG appears."""
    from test_loaders import pdf_bytes

    store = tmp_path / "markup-store"
    collection = open_store(str(store)).open_collection("markup", minilm.info)
    ingest([Upload("markup.md", HOSTILE_MARKUP.encode()), Upload("reviews.csv", HOSTILE_CSV.encode()),
            Upload("minutes.pdf", pdf_bytes([HOSTILE_PDF_LINES]))], collection, minilm, DEFAULT_CHUNKING,
           LoadOptions(text_field="text"))
    tab = browser_page
    folder = tab.page.get_by_label("Folder", exact=True)
    folder.fill(str(store))
    folder.press("Enter")
    tab.page.locator('[data-testid="stSidebar"] input[value^="markup · minilm"]').wait_for(state="attached")
    main = tab.page.locator('[data-testid="stMainBlockContainer"]')

    def assert_inert() -> None:
        assert tab.page.evaluate("window.__pwned") is None
        assert tab.page.locator('a[href^="javascript:" i]').count() == 0
        live = main.locator('svg[onload], img[onerror], circle[r="40"]')
        assert live.count() == 0, live.evaluate_all("els => els.map(e => e.outerHTML)")
        assert tab.exceptions() == []

    tab.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Hybrid search").click()
    tab.settle()
    tab.page.get_by_label("Query").fill("svg link review gadget minutes")
    tab.page.get_by_label("Query").press("Enter")
    tab.page.get_by_text(re.compile(r"^#1 · ")).first.wait_for()
    tab.settle()
    body = main.inner_text()
    for shown in ('<svg onload="window.__pwned=2">', "[markdown link](javascript:window.__pwned=3)",
                  '<a href="javascript:window.__pwned=4">', "<img src=x onerror=window.__pwned=6>",
                  "<script>window.__pwned=9</script>"):
        assert shown in body, shown
    assert_inert()
    tab.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Ask (RAG chat)").click()
    tab.settle()
    ask(tab, "What do the gadget reviews and the minutes say about the svg link?")
    tab.page.get_by_text("Retrieved context").first.click()
    context = main.inner_text()
    assert "<svg/onload=window.__pwned=7>" in context and "[slides](javascript:window.__pwned=11)" in context
    assert_inert()
