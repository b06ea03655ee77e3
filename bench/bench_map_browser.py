"""The map at 100,000 or a million points in the real app, in headless Chromium: how long a user waits.

Same SYNTHETIC collection as bench/bench_map.py (built by it: one store per size, see its store_for).
`streamlit run app.py` on that store; Debian Chromium (software WebGL through SwiftShader) opens the
app, then each visit is timed in the page from the click on "Embedding map" in the sidebar until the
map component has drawn every point and the script run has ended:
- first view: the disk caches of the points, the page's default layout (UMAP, when bench_map.py --build-only
  precomputed it: linked in from --folder; else the PCA the page draws meanwhile), its trust estimate and its
  labels are warmed first in this process ("projection cached"; --cold leaves them empty), the server's
  memory caches are empty;
- back to the map in the same tab after visiting another page (Streamlit's memory caches; the browser
  keeps the drawn map);
- a new browser session on the same server (memory caches; the points file comes from the browser cache);
- click a point until the side panel shows it and its neighbours;
- lasso a tenth of the points (100,000 of a million) until the side panel lists them.
--screenshot PATH saves the page once the first view has drawn every point (before any click or lasso).
Disk-cache files the run makes (or links in) are deleted at the end, so the next run starts as cold as this one.

    .venv/bin/python bench/bench_map_browser.py [--points 100000] [--folder DIR] [--cold] [--screenshot docs/map-million.png]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from bench_map import build, cache_dirs, store_for  # noqa: E402
from browser_fixtures import CHROMIUM, CHROMIUM_ARGS, app_tab, free_port, start_app, stop_app  # noqa: E402
from common import machine_line  # noqa: E402
from core.projection import (DEFAULT_CACHE_DIR, MAP_POINTS, POINTS_CACHE_DIR, ProjectionSettings,  # noqa: E402
                             cached_points, project, read_cached)
from core.map_encoding import cached_topic_labels  # noqa: E402
from core.trust import DEFAULT_K, cached_preservation  # noqa: E402

TIMEOUT_MS = 600_000


# Timed inside the page: from the click (a capture listener) until the map component has drawn the
# wanted number of points (checked each animation frame) and the script run has ended (the app's
# run-state attribute). Timing from Playwright instead would add its own round trips, which wait while
# software WebGL holds the main thread.
WATCH = """([points, heading]) => {
    window._visit = {};
    const drawnBefore = window.explorerMapView ? window.explorerMapView.root.dataset.key : null;
    for (const type of ['click', 'mouseup']) {
        document.addEventListener(type, () => { if (!window._visit.click) window._visit.click = performance.now(); },
                                  {capture: true, once: true});
    }
    const app = document.querySelector('[data-testid="stApp"]');
    const observer = new MutationObserver(() => {
        if (app.getAttribute('data-test-script-state') === 'running') window._visit.ran = true;
        else if (window._visit.ran) { window._visit.idle = performance.now(); observer.disconnect(); }
    });
    observer.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
    const frame = () => {
        const view = window.explorerMapView;
        const drawn = points ? view && view.root.isConnected && view.root.dataset.points === String(points)
                               && view.status.style.display === 'none'
                             : [...document.querySelectorAll('h3')].some(h => h.innerText.startsWith(heading));
        if (drawn) window._visit.drawn = performance.now(); else requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
}"""
DONE = "() => window._visit.click && window._visit.idle && window._visit.drawn"
ELAPSED = "() => [window._visit.idle - window._visit.click, window._visit.drawn - window._visit.click]"


class Timing(NamedTuple):
    run: float  # seconds until the script run ended
    drawn: float  # seconds until the map (or the heading) was drawn

    @property
    def seconds(self) -> float:
        return max(self.run, self.drawn)


def timed(page, action, points: int = 0, heading: str = "") -> Timing:
    """Seconds from the click or mouse-up of `action` until the map holds `points` (or a heading starting
    with `heading` is shown) and the script run has ended."""
    page.evaluate(WATCH, [points, heading])
    action()
    page.wait_for_function(DONE, timeout=TIMEOUT_MS, polling=100)
    run_ms, drawn_ms = page.evaluate(ELAPSED)
    return Timing(run_ms / 1000, drawn_ms / 1000)


def visit(page, target: str, points: int = 0) -> Timing:
    return timed(page, lambda: page.locator('[data-testid="stSidebarNav"]').get_by_text(target, exact=True).click(),
                 points)


def canvas(page) -> dict:
    return page.locator(".emap canvas.emap-points").bounding_box()


def click_point(page) -> Timing:
    """Click a point near the middle of the map; until its details and neighbours are beside it."""
    x, y = page.evaluate("""() => { const v = window.explorerMapView;
        let best = 0, bestD = Infinity;
        for (let i = 0; i < v.points.x.length; i += 97) {
            const [sx, sy] = v.screen(i), d = Math.hypot(sx - v.width / 2, sy - v.height / 2);
            if (d < bestD) { best = i; bestD = d; }
        }
        return v.screen(best); }""")
    box = canvas(page)
    page.mouse.move(box["x"] + x, box["y"] + y)
    return timed(page, lambda: page.mouse.click(box["x"] + x, box["y"] + y), heading="Clicked point")


def lasso_tenth(page) -> tuple[Timing, int]:
    """Lasso the band of the map holding a tenth of its points; until the side panel lists them."""
    page.locator(".emap button[data-mode=lasso]").click()
    left, right = page.evaluate("""() => { const v = window.explorerMapView;
        const xs = Array.from(v.points.x).sort((a, b) => a - b), n = xs.length;
        return [v.xScale(xs[Math.floor(n * 0.45)]), v.xScale(xs[Math.floor(n * 0.55)])]; }""")
    box = canvas(page)
    corners = [(left, 2), (right, 2), (right, box["height"] - 2), (left, box["height"] - 2), (left, 3)]
    page.mouse.move(box["x"] + corners[0][0], box["y"] + corners[0][1])
    page.mouse.down()
    for x, y in corners[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=6)
    page.wait_for_timeout(150)

    def release() -> None:
        page.mouse.up()

    seconds = timed(page, release, heading="Selected region")
    return seconds, int(page.evaluate("() => window.explorerMapView.lastPick.length"))


@contextmanager
def session(browser, url: str) -> Iterator:
    """A page in a fresh browser session, on the app's default page once its run has ended, and the seconds
    that took (timed from outside the page)."""
    with app_tab(browser, url, timeout_ms=TIMEOUT_MS) as tab:
        started = time.perf_counter()
        tab.page.goto(url)
        tab.settle(TIMEOUT_MS)
        yield tab.page, time.perf_counter() - started


def link_precomputed(folder: Path) -> None:
    """bench_map.py --build-only's points and layouts for this store, linked into the app's caches."""
    for made, cache in zip(cache_dirs(folder), (POINTS_CACHE_DIR, DEFAULT_CACHE_DIR)):
        cache.mkdir(parents=True, exist_ok=True)
        for path in made.glob("*") if made.is_dir() else ():
            if not (cache / path.name).exists():
                try:
                    os.link(path, cache / path.name)
                except OSError:  # another file system
                    shutil.copyfile(path, cache / path.name)


def warm_caches(collection, store: str) -> tuple[float, str]:
    """The disk caches the first view reads: points, the page's default layout when cached (else the PCA
    drawn meanwhile), its trust estimate, its labels. Returns the seconds taken and the layout's method."""
    started = time.perf_counter()
    mapped = cached_points(collection, store, MAP_POINTS)
    n = len(mapped.chunks.ids)
    projection = (read_cached(n, ProjectionSettings(), data_key=mapped.fingerprint)
                  or project(mapped.chunks.embeddings, ProjectionSettings(method="pca"), data_key=mapped.fingerprint))
    cached_preservation(mapped.chunks.embeddings, projection.coords, DEFAULT_K, projection.settings.metric,
                        map_key=f"{mapped.fingerprint}-{projection.settings.key()}")
    cached_topic_labels(projection.coords, mapped.chunks.texts, f"{mapped.fingerprint}-{projection.settings.key()}")
    return time.perf_counter() - started, projection.settings.method.upper()


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", "--size", type=int, default=100_000, dest="points")
    parser.add_argument("--folder", type=Path, help="the store and precomputed caches of bench_map.py --folder")
    parser.add_argument("--cold", action="store_true", help="leave the disk caches empty for the first view")
    parser.add_argument("--screenshot", type=Path, help="save the page with the whole map drawn here (PNG)")
    args = parser.parse_args()
    collection = build(args.points, args.folder)
    points = collection.count()
    store = str(store_for(points, args.folder))
    app_caches = (POINTS_CACHE_DIR, DEFAULT_CACHE_DIR)
    before = {p for d in app_caches if d.exists() for p in d.iterdir()}
    load = os.getloadavg()[0]
    warm_s, layout = 0.0, "none"
    if not args.cold:
        if args.folder:
            link_precomputed(args.folder)
        warm_s, layout = warm_caches(collection, store)
    rows: list[tuple[str, Timing]] = []
    with tempfile.TemporaryDirectory() as logs, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_app(store, port, Path(logs) / "server.log")
        try:
            with session(browser, url) as (page, landing):
                rows.append(("first view, " + ("every cache empty" if args.cold else f"disk caches warm (points, "
                             f"{layout} layout, trust, labels), server memory empty") + ": points file written and "
                             "fetched, drawn", visit(page, "Embedding map", points)))
                if args.screenshot:
                    page.mouse.move(5, 5)
                    page.screenshot(path=str(args.screenshot), full_page=True)
                visit(page, "Similarity")
                rows.append(("back to the map in the same tab", visit(page, "Embedding map", points)))
                rows.append(("click a point: its text and neighbours in the side panel", click_point(page)))
                lasso_s, lassoed = lasso_tenth(page)
                rows.append((f"lasso {lassoed:,} points: the side panel lists them", lasso_s))
            with session(browser, url) as (page, _):
                rows.append(("a new browser session on the same server", visit(page, "Embedding map", points)))
        finally:
            stop_app(server)
            browser.close()
            for made in {p for d in app_caches if d.exists() for p in d.iterdir()} - before:
                made.unlink()
    print(machine_line())
    print(f"collection: SYNTHETIC {points:,} points (bench/bench_map.py); headless Debian Chromium, software "
          f"WebGL (SwiftShader); disk caches warmed in {warm_s:.0f} s before the first view; load average "
          f"(1 min) before {load:.1f}, after {os.getloadavg()[0]:.1f}; the app's first page (Library, its document "
          f"list read from the store) settled {landing:.1f} s after the browser opened it")
    print("| step | wall s | until the script run ended | until drawn |")
    print("|---|---:|---:|---:|")
    for label, timing in rows:
        print(f"| {label} | {timing.seconds:.2f} | {timing.run:.2f} | {timing.drawn:.2f} |")
    print(f"map: points={points} first_view_s={rows[0][1].seconds:.1f} revisit_s={rows[1][1].seconds:.2f} "
          f"click_s={rows[2][1].seconds:.2f} lasso_s={rows[3][1].seconds:.2f}")


if __name__ == "__main__":
    main()
