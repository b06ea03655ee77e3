"""Screenshots of every page of the app, for the docs.

Starts `streamlit run app.py` on a store (default data/store, where
`python -m core samples` puts the sample corpus), opens each page in headless
Chromium at 1400x900, does one representative thing where it is cheap (a
search, a chat question) and saves docs/screenshots/<page>.png.

    .venv/bin/python scripts/screenshots.py [--store DIR] [--out DIR]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the browser test fixtures know how to start and drive the app

from browser_fixtures import CHROMIUM, CHROMIUM_ARGS, BrowserPage, free_port, start_app, stop_app  # noqa: E402

SEARCH_QUERY = "Who does Elizabeth Bennet marry?"
CHAT_QUESTION = "What does Victor Frankenstein create?"
MAP_QUERY = "the creature on the glacier"
QUERY_SET = "\n".join(["Who does Elizabeth Bennet marry?", "What does Victor Frankenstein create?",
                        "How is emphasis written in Markdown?", "Where does Victor meet the creature?",
                        "What is a fenced code block?", "Why does Darcy dislike Wickham?"])


def act(tab: BrowserPage, shot: str) -> None:
    """The representative action behind each screenshot, where one is cheap."""
    page = tab.page
    if shot == "search":
        page.get_by_label("Query").fill(SEARCH_QUERY)
        page.get_by_label("Query").press("Enter")
        page.get_by_text("#1 · ").first.wait_for()
    elif shot == "chat":
        box = page.locator('[data-testid="stChatInputTextArea"]')
        box.fill(CHAT_QUESTION)
        box.press("Enter")
        page.locator('[data-testid="stChatMessage"]').nth(1).wait_for()
    elif shot == "library":
        page.get_by_text("Built-in sample").click()
        page.get_by_text("Chunks in alternating colours").wait_for()
    elif shot == "map":
        page.locator(".emap[data-points]").wait_for()
    elif shot == "map-query":
        page.locator(".emap[data-points]").wait_for()
        page.get_by_label("Drop a query onto the map").fill(MAP_QUERY)
        page.get_by_label("Drop a query onto the map").press("Enter")
    elif shot == "map-clusters":
        page.locator(".emap[data-points]").wait_for()
        page.get_by_text("Find clusters").click()
        page.get_by_text("Cluster purity").wait_for()
    elif shot == "map-query-set":
        page.locator(".emap[data-points]").wait_for()
        box = page.get_by_role("textbox", name="Queries, one per line")
        box.fill(QUERY_SET)
        box.press("Control+Enter")
        page.get_by_text("Mapped chunks never retrieved").wait_for()
    elif shot == "sweep":
        page.get_by_role("button", name="Run sweep").click()
        page.get_by_text("Best nDCG@10").wait_for(timeout=600_000)
    elif shot in ("duplicates", "compare"):  # background jobs: their results come when they are done
        page.get_by_text("Chunks scanned" if shot == "duplicates" else "Mean neighbour overlap").first.wait_for(
            timeout=600_000)
    tab.settle()


# screenshot name -> URL path of its page (the default page is served at "/"); the map's
# extra views scroll to their section with a full-page shot.
SHOTS = {"library": "", "similarity": "similarity", "search": "search", "map": "map", "map-query": "map",
         "map-clusters": "map", "map-query-set": "map", "chat": "chat", "sweep": "sweep",
         "duplicates": "duplicates", "compare": "compare"}
FULL_PAGE = {"map-clusters", "map-query-set", "sweep", "duplicates", "compare"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=str(ROOT / "data" / "store"), help="store folder or URL")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="where the PNGs go")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    port = free_port()
    process = start_app(args.store, port, out / "streamlit.log")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(120_000)
            tab = BrowserPage(page, f"http://127.0.0.1:{port}")
            for shot, path in SHOTS.items():
                tab.open(path)
                act(tab, shot)
                page.wait_for_timeout(1000)  # let charts finish their transitions
                page.screenshot(path=str(out / f"{shot}.png"), full_page=shot in FULL_PAGE)
                print(f"{shot}: {out / f'{shot}.png'}")
            browser.close()
    finally:
        stop_app(process)
    (out / "streamlit.log").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
