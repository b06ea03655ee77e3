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

# page file stem -> URL path (the default page is served at "/")
PAGES = {"library": "", "similarity": "similarity", "search": "search", "map": "map", "chat": "chat",
         "sweep": "sweep", "duplicates": "duplicates", "compare": "compare"}
SEARCH_QUERY = "Who does Elizabeth Bennet marry?"
CHAT_QUESTION = "What does Victor Frankenstein create?"


def act(tab: BrowserPage, stem: str) -> None:
    """The page's representative action, where one is cheap."""
    page = tab.page
    if stem == "search":
        page.get_by_label("Query").fill(SEARCH_QUERY)
        page.get_by_label("Query").press("Enter")
        page.get_by_text("#1 · ").first.wait_for()
    elif stem == "chat":
        box = page.locator('[data-testid="stChatInputTextArea"]')
        box.fill(CHAT_QUESTION)
        box.press("Enter")
        page.locator('[data-testid="stChatMessage"]').nth(1).wait_for()
    elif stem == "library":
        page.get_by_text("Built-in sample").click()
        page.get_by_text("Chunks in alternating colours").wait_for()
    elif stem == "map":
        page.locator(".js-plotly-plot").first.wait_for()
    tab.settle()


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
            for stem, path in PAGES.items():
                tab.open(path)
                act(tab, stem)
                page.wait_for_timeout(500)  # let charts finish their transitions
                page.screenshot(path=str(out / f"{stem}.png"))
                print(f"{stem}: {out / f'{stem}.png'}")
            browser.close()
    finally:
        stop_app(process)
    (out / "streamlit.log").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
