"""The map at 100,000 points in the real app, in headless Chromium: how long a user waits.

Same SYNTHETIC collection as bench/bench_map.py (built by it, kept in data/cache/bench-map/; the app
opens the store's first collection, so keep one size there).
`streamlit run app.py` on that store; Debian Chromium (software WebGL, --disable-gpu) opens the app,
then each visit is timed from the click on "Embedding map" in the sidebar until the chart holds every
point and the script run has ended:
- first view: every cache empty (read the store, PCA, trust estimate, figure);
- back to the map in the same tab after visiting another page (Streamlit's memory caches);
- a new browser session on the same server (memory caches);
- after restarting the server (disk caches: points by collection version, map and trust by content).
Disk-cache files the run makes are deleted at the end, so the next run starts cold again.

    .venv/bin/python bench/bench_map_browser.py [--size 100000]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from bench_map import STORE, build  # noqa: E402
from browser_fixtures import CHROMIUM, CHROMIUM_ARGS, app_tab, free_port, start_app, stop_app  # noqa: E402
from common import machine_line  # noqa: E402
from core.projection import DEFAULT_CACHE_DIR, POINTS_CACHE_DIR  # noqa: E402

TIMEOUT_MS = 600_000


# Timed inside the page: from the click (a capture listener) until the chart holds every point (checked
# each animation frame) and the script run has ended (the app's run-state attribute). Timing from
# Playwright instead would add its own round trips, which wait while software WebGL holds the main thread.
WATCH = """(points) => {
    window._visit = {};
    document.addEventListener('click', () => { window._visit.click = performance.now(); },
                              {capture: true, once: true});
    const app = document.querySelector('[data-testid="stApp"]');
    const observer = new MutationObserver(() => {
        if (app.getAttribute('data-test-script-state') === 'running') window._visit.ran = true;
        else if (window._visit.ran) { window._visit.idle = performance.now(); observer.disconnect(); }
    });
    observer.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
    const frame = () => {
        const gd = document.querySelector('.js-plotly-plot');
        const n = gd && gd._fullData ? gd._fullData.reduce((n, t) => n + (t.x ? t.x.length : 0), 0) : 0;
        if (points && n >= points) window._visit.drawn = performance.now(); else requestAnimationFrame(frame);
    };
    if (points) requestAnimationFrame(frame);
}"""


def visit(page, target: str, points: int = 0) -> float:
    """Seconds from the sidebar click on `target` until its script run has ended and, given `points`,
    the chart holds that many."""
    page.evaluate(WATCH, points)
    page.locator('[data-testid="stSidebarNav"]').get_by_text(target, exact=True).click()
    page.wait_for_function("(points) => window._visit.idle && (!points || window._visit.drawn)", arg=points,
                           timeout=TIMEOUT_MS, polling=200)
    return page.evaluate("() => (Math.max(window._visit.idle, window._visit.drawn || 0) - window._visit.click) / 1000")


@contextmanager
def session(browser, url: str) -> Iterator:
    """A page in a fresh browser session, on the app's default page once its run has ended."""
    with app_tab(browser, url, timeout_ms=TIMEOUT_MS) as tab:
        tab.page.goto(url)
        tab.settle(TIMEOUT_MS)
        yield tab.page


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args()
    collection = build(args.size)
    points = collection.count()
    cache_dirs = (POINTS_CACHE_DIR, DEFAULT_CACHE_DIR)
    before = {p for d in cache_dirs if d.exists() for p in d.iterdir()}
    load = os.getloadavg()[0]
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as logs, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_app(str(STORE), port, Path(logs) / "server.log")
        try:
            with session(browser, url) as page:
                rows.append(("first view, every cache empty (read the store, PCA, trust on 2,000 sampled points, "
                             "figure)", visit(page, "Embedding map", points)))
                visit(page, "Similarity")
                rows.append(("back to the map in the same tab (Streamlit's memory caches)",
                             visit(page, "Embedding map", points)))
            with session(browser, url) as page:
                rows.append(("a new browser session on the same server", visit(page, "Embedding map", points)))
            stop_app(server)
            server = start_app(str(STORE), port, Path(logs) / "server2.log")
            with session(browser, url) as page:
                rows.append(("after restarting the server (disk caches)", visit(page, "Embedding map", points)))
        finally:
            stop_app(server)
            browser.close()
            for made in {p for d in cache_dirs if d.exists() for p in d.iterdir()} - before:
                made.unlink()
    print(machine_line())
    print(f"collection: SYNTHETIC {points:,} points (bench/bench_map.py); headless Debian Chromium, software "
          f"WebGL; load average (1 min) before {load:.1f}, after {os.getloadavg()[0]:.1f}")
    print("| visit | wall s |")
    print("|---|---:|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.1f} |")
    print(f"map_browser: first_view_s={rows[0][1]:.1f} revisit_s={rows[1][1]:.1f} "
          f"new_session_s={rows[2][1]:.1f} restart_s={rows[3][1]:.1f}")


if __name__ == "__main__":
    main()
