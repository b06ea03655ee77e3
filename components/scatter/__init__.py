"""The 2-D map's WebGL component in Streamlit: files for the browser, the mount, what the user picked.

The points travel as a binary file (core/map_encoding), written once under static/map-data/ and
served by Streamlit's static serving (`server.enableStaticServing` in .streamlit/config.toml): the
browser caches it and a revisit fetches nothing new. Only small JSON goes through the websocket:
the file's URL, the legend, labels and marks. The component sends back only the pick: the
clicked point or the box/lasso's points, as indices into that file.

Static files need no sign-in, so every file name carries an HMAC of what it holds under a random
key kept in data/cache/: a name cannot be guessed, only received from a page the policy let the
user open (the collection's text in hover files included).

The bundle (static/scatter/scatter.js) is built from components/scatter/src by esbuild
(`npm ci && npm run build` here); tests/test_scatter_bundle.py proves the committed file is that build.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import streamlit as st

from core.config import DATA_DIR
from core.map_encoding import HOVER_BLOCK, Classes, Frame, MapLabel, hover_blocks, points_bytes
from core.projection import write_cache_file

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC_DIR = ROOT / "static"
BUNDLE = STATIC_DIR / "scatter" / "scatter.js"
FILES_DIR = STATIC_DIR / "map-data"
KEY_FILE = DATA_DIR / "cache" / "map-static.key"
KEEP_POINT_FILES, KEEP_HOVER_SETS = 24, 8  # older files are deleted when a new one is written

# The registered code is a loader: the bundle (240 KB) is fetched once and cached by the browser
# instead of travelling with every rerun.
LOADER = """
export default async function (component) {
  const module = await import(new URL(component.data.bundle, window.location.href).href);
  return module.render(component);
}
"""
_component = st.components.v2.component("explorer.scatter", js=LOADER)
_hover_writers: set[str] = set()
_lock = threading.Lock()


@dataclass(frozen=True)
class Pick:
    """What the user picked: rows of the map."""

    kind: str | None  # "click", "box", "lasso" or None
    rows: tuple[int, ...]

    @property
    def clicked(self) -> int | None:
        return self.rows[0] if self.kind == "click" and self.rows else None

    @property
    def region(self) -> bool:
        return self.kind in ("box", "lasso")


def _key() -> bytes:
    with _lock:
        if not KEY_FILE.exists():
            write_cache_file(KEY_FILE, secrets.token_bytes(32))
            KEY_FILE.chmod(0o600)
        return KEY_FILE.read_bytes()


def file_name(kind: str, *parts: str, suffix: str) -> str:
    digest = hmac.new(_key(), "\x1f".join((kind, *parts)).encode(), hashlib.sha256).hexdigest()[:40]
    return f"{kind}-{digest}{suffix}"


def _url(name: str) -> str:
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{'/' + base if base else ''}/app/static/{name}"


def _prune(pattern: str, keep: int) -> None:
    files = sorted(FILES_DIR.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        old.unlink(missing_ok=True)


def _write_hover(prefix: str, texts: Sequence[str]) -> None:
    for number, data in hover_blocks(texts):
        path = FILES_DIR / f"{prefix}{number}.json"
        if not path.exists():
            write_cache_file(path, data)


def ensure_hover(texts_key: str, texts: Sequence[str]) -> str:
    """The URL prefix of the hover files for these texts; written in the background the first time
    (at a million points they take seconds, and no one hovers in the first second)."""
    prefix = file_name("hover", texts_key, suffix="-")
    done = FILES_DIR / f"{prefix}{max(len(texts) - 1, 0) // HOVER_BLOCK}.json"
    with _lock:
        if not done.exists() and prefix not in _hover_writers:
            _hover_writers.add(prefix)
            FILES_DIR.mkdir(parents=True, exist_ok=True)
            _prune("hover-*-0.json", KEEP_HOVER_SETS)

            def write() -> None:
                try:
                    _write_hover(prefix, texts)
                finally:
                    with _lock:
                        _hover_writers.discard(prefix)

            threading.Thread(target=write, name="map-hover-files", daemon=True).start()
    return _url(f"map-data/{prefix}")


def _digest(array: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=12).hexdigest()


@dataclass(frozen=True)
class MapFiles:
    """The shown rows' points file, written: its name is also the key a pick must carry."""

    name: str
    shown: np.ndarray  # display index -> row
    index: np.ndarray  # row -> display index, -1 when not shown
    frame: Frame
    found: Classes

    def on_map(self, rows: Sequence[int]) -> list[int]:
        if not len(rows):
            return []
        return [int(i) for i in self.index[np.asarray(list(rows), dtype=np.int64)] if i >= 0]


def map_files(coords: np.ndarray, shown: np.ndarray, found: Classes, view_key: str) -> MapFiles:
    """Write (once) the points file of the `shown` rows of `coords` coloured by `found`; `view_key`
    names the points and the layout (collection version + projection)."""
    shown = np.asarray(shown, dtype=np.int64)
    frame = Frame.of(coords)
    key = "-".join((view_key, _digest(shown), _digest(found.codes), _digest(found.size_codes),
                    ",".join(map(str, found.sizes))))
    name = file_name("points", key, suffix=".bin")
    path = FILES_DIR / name
    if not path.exists():
        write_cache_file(path, points_bytes(coords, shown, found, frame))
        _prune("points-*.bin", KEEP_POINT_FILES)
    index = np.full(len(coords), -1, dtype=np.int64)
    index[shown] = np.arange(len(shown))
    return MapFiles(name, shown, index, frame, found)


def current_pick(files: MapFiles, key: str = "map_scatter") -> Pick:
    """What the user picked on this map (a pick made on another map, e.g. before a filter changed, is no pick)."""
    state = st.session_state.get(key)
    pick = state.get("pick") if hasattr(state, "get") else None
    if not isinstance(pick, dict) or pick.get("key") != files.name:
        return Pick(None, ())
    n = len(files.shown)
    ids = np.asarray([i for i in pick.get("ids") or [] if isinstance(i, int) and 0 <= i < n], dtype=np.int64)
    kind = pick.get("kind") if pick.get("kind") in ("click", "box", "lasso") else None
    return Pick(kind, tuple(dict.fromkeys(files.shown[ids].tolist())) if kind else ())


def static_serving_on() -> bool:
    if st.get_option("server.enableStaticServing"):
        return True
    st.error("The map needs Streamlit's static file serving: set `enableStaticServing = true` under "
             "[server] in .streamlit/config.toml (the repository's copy has it) and restart the app.")
    return False


def scatter_map(files: MapFiles, texts_key: str, texts: Sequence[str], *, labels: Sequence[MapLabel] = (),
                focus: int | None = None, rings: Sequence[tuple[Sequence[int], str]] = (),
                matches: Sequence[int] = (), query: tuple[Sequence[float], Sequence[int]] | None = None,
                height: int = 680, footer: str = "", key: str = "map_scatter") -> None:
    """Mount the map of `files`. All positions are rows of the map: `rings` are (rows, colour) drawn as
    circles (neighbours, a query's hits, anything a caller wants marked), `matches` drawn in black with
    the rest faded, `query` (position, hit rows) a star with lines to its hits, `focus` a diamond.
    `texts_key` names the texts (the points' fingerprint) for the hover files."""
    found = files.found
    counts = np.bincount(found.codes[files.shown], minlength=len(found.legend))
    data = {
        "bundle": _url(f"scatter/scatter.js?v={hashlib.sha256(BUNDLE.read_bytes()).hexdigest()[:12]}"),
        "points": {"url": _url(f"map-data/{files.name}"), "n": int(len(files.shown)), "key": files.name},
        "categoryKey": "|".join(e.name for e in found.legend),
        "categories": [{"name": e.name, "colour": e.colour, "count": int(c)} for e, c in zip(found.legend, counts)],
        "legendTitle": found.title,
        "sizes": list(found.sizes),
        "hover": {"prefix": ensure_hover(texts_key, texts), "block": HOVER_BLOCK},
        "labels": [label.as_list(files.frame) for label in labels],
        "rings": [{"ids": files.on_map(rows), "colour": colour} for rows, colour in rings],
        "focus": (files.on_map([focus]) or [None])[0] if focus is not None else None,
        "matches": files.on_map(matches),
        "query": None,
        "density": True,
        "height": height,
        "footer": footer,
        "instance": key,  # the browser keeps one view per key, so a return to the page redraws nothing
    }
    if query is not None:
        position, hits = query
        x, y = files.frame.apply(np.asarray(position, dtype=float))
        data["query"] = {"x": float(x), "y": float(y), "hits": files.on_map(hits)}
    _component(key=key, data=data, default={"pick": None}, height=height, on_pick_change=lambda: None)
