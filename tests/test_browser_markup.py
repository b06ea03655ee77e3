"""Markup in data stays text, in the real app in Chromium: a collection whose categories, sources, metadata keys
and values hold a link, a styled span and an image with an onerror handler is shown on every page, and no live
<a>, <img> or styled <span> made from it appears anywhere (the map component's legend and labels, Plotly legends
and titles, Markdown, tables), nor
does any script run. (Collection names cannot hold markup in Chroma: 3-63 characters of [a-zA-Z0-9._-].)"""
from __future__ import annotations

import json
from typing import Iterator

import pytest

from browser_fixtures import app_tab, free_port, start_app, stop_app
from core.config import DEFAULT_CHUNKING
from core.pipeline import LoadOptions, Upload, ingest
from core.samples import samples
from core.stores import open_store

pytestmark = pytest.mark.browser

LINK = '<a href="https://example.org/owned">CLICK</a>'
BIG = '<span style="font-size:60px">BIG</span>'
IMAGE = '<img src=x onerror="document.title=\'OWNED\'">'
MARKUP = LINK + BIG + IMAGE
KEY = "note" + LINK  # a metadata key holding markup


@pytest.fixture(scope="module")
def markup_server(minilm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("markup-store")
    collection = open_store(str(folder)).open_collection("markup", minilm.info)
    rows = [{"text": paragraph, "category": MARKUP if n % 2 else "plain", KEY: MARKUP}
            for sample in samples() for n, paragraph in enumerate(sample.body()[2000:14000].split("\n\n")[:12])
            if paragraph.strip()]
    options = LoadOptions(text_field="text", category_field="category", metadata_fields=(KEY,))
    report = ingest([Upload(f"{MARKUP}.jsonl", "\n".join(json.dumps(r) for r in rows).encode())], collection,
                    minilm, DEFAULT_CHUNKING, options)
    assert report.files == 1 and collection.count() > 20
    port = free_port()
    process = start_app(str(folder), port, folder.parent / "server.log")
    yield f"http://127.0.0.1:{port}"
    stop_app(process)


def live_markup(page) -> list[str]:
    """Elements made from the markup: links, images, spans styled 60px (HTML and SVG alike)."""
    return page.evaluate("""() => {
        const found = [];
        // The document and every shadow root in it (the map component draws in one).
        const roots = [document];
        for (let i = 0; i < roots.length; i++)
            for (const el of roots[i].querySelectorAll('*')) if (el.shadowRoot) roots.push(el.shadowRoot);
        const all = (selector) => roots.flatMap(root => [...root.querySelectorAll(selector)]);
        for (const a of all('a')) {
            const href = a.getAttribute('href') || a.getAttribute('xlink:href') || '';
            if (href.includes('example.org') || a.textContent.includes('CLICK')) found.push('a: ' + a.outerHTML);
        }
        for (const img of all('img, image'))
            if ((img.getAttribute('src') || '') === 'x') found.push('img: ' + img.outerHTML);
        for (const el of all('[style]'))
            if ((el.getAttribute('style') || '').replace(/\\s/g, '').includes('font-size:60px'))
                found.push('styled: ' + el.outerHTML.slice(0, 200));
        return found;
    }""")


def shown_as_text(page) -> bool:
    """The markup's characters are on the page as text (in the DOM or a Plotly SVG text node)."""
    return page.evaluate("""() => document.body.innerText.includes('CLICK</a>')
        || [...document.querySelectorAll('text, tspan')].some(t => t.textContent.includes('CLICK</a>'))""")


PAGES = {"": "Library & chunking", "map": "Embedding map", "compare": "Compare embedders",
         "search": "Hybrid search", "similarity": "Similarity", "duplicates": "Near-duplicates",
         "chat": "Ask your documents"}


def test_markup_in_data_is_shown_as_text_on_every_page(chromium, markup_server):
    with app_tab(chromium, markup_server) as tab:
        dialogs = []
        tab.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        tab.open()
        seen_as_text = []
        for path, title in PAGES.items():
            tab.open(path)
            tab.page.locator("h1").filter(has_text=title).wait_for()
            tab.settle()
            if path == "search":
                tab.page.get_by_label("Query").fill("Elizabeth")
                tab.page.get_by_label("Query").press("Enter")
                tab.page.get_by_text("#1 · ").first.wait_for()
                tab.settle()
            if path == "duplicates":  # the scan is a background job: its tables come when it is done
                tab.page.get_by_text("Chunks scanned").wait_for()
                tab.settle()
            if path in ("map", "compare"):  # coloured by category: the legend names both groups
                # The map's legend is the WebGL component's own (text set as textContent); Compare's is Plotly's.
                legend = tab.page.locator(".emap-legend" if path == "map" else ".js-plotly-plot .legend").first
                legend.wait_for(state="attached")
                tab.page.wait_for_function("(l) => l.textContent.includes('CLICK</a>')", arg=legend.element_handle())
                assert live_markup(tab.page) == [], path
                seen_as_text.append(path)
            if path == "map":
                colour = tab.page.locator('[data-testid="stSelectbox"]').filter(has_text="Colour by")
                colour.click()
                tab.page.get_by_role("option", name="source", exact=True).click()
                tab.settle()
                # One source, named by the markup file's name: one legend entry, as text.
                tab.page.locator(".emap-entry-name").filter(has_text="CLICK</a>").first.wait_for()
            assert tab.exceptions() == [], path
            assert live_markup(tab.page) == [], path
            if shown_as_text(tab.page):
                seen_as_text.append(path)
        assert tab.page.title() != "OWNED" and dialogs == []
        # The test reads what it should: the markup is on the pages, as characters.
        assert {"map", "compare", "search"} <= set(seen_as_text), seen_as_text
