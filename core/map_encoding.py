"""The 2-D map as the browser's WebGL component receives it: binary points, a legend, hover blocks, labels.

The component (components/scatter) draws up to millions of points, so nothing per point travels as
JSON: one binary file holds, for every shown point, its position (float32 x, y scaled into [-1, 1]
keeping the aspect), its row in the map (uint32, so a pick or a hover names the row), its colour
class (uint16, an index into the legend) and its size class (uint8, an index into the sizes):
14 bytes a point, 14 MB at a million. Colourings by value (trust) or count (retrieval) are
binned into legend classes too, so every colouring draws, hides and shows the same way.

Hover previews are JSON arrays of short texts per block of rows, fetched when the pointer
first rests on a point of that block. Labels are (x, y, text, font size, level): level 0 is
always drawn, finer levels as the user zooms in; the component places them without overlaps.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from .map_figure import MAX_LEGEND_GROUPS, Colouring
from .palette import MUTED, category_colours
from .projection import DEFAULT_CACHE_DIR, write_cache_file
from .types import content_hash

HOVER_BLOCK = 4096  # rows per hover file: ~400 KB of JSON at 100 characters a row
HOVER_CHARS = 100
VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58",
           "#b5de2b", "#fde725")
PLASMA = ("#0d0887", "#6a00a8", "#b12a90", "#e16462", "#fca636", "#f0f921")
COUNT_BINS = ((1, 1), (2, 4), (5, 9), (10, 19), (20, 49), (50, None))
UNNAMED_LAST = ("other", "(none)", "outliers")


@dataclass(frozen=True)
class LegendEntry:
    name: str
    colour: str
    count: int


@dataclass(frozen=True)
class Classes:
    """Each point's colour class (an index into `legend`) and size class (an index into `sizes`)."""

    codes: np.ndarray  # (n,) uint16
    legend: tuple[LegendEntry, ...]
    title: str
    size_codes: np.ndarray  # (n,) uint8
    sizes: tuple[float, ...]  # pixels per size class


def point_pixels(n: int) -> float:
    """Points shrink as the map fills: 6 px for a few hundred, 2 px from a million."""
    return float(np.clip(10.0 - 1.35 * np.log10(max(n, 1)), 2.0, 6.0))


def _entries(codes: np.ndarray, names: Sequence[str], colours: Sequence[str]) -> tuple[LegendEntry, ...]:
    counts = np.bincount(codes, minlength=len(names))
    return tuple(LegendEntry(name, colour, int(count)) for name, colour, count in zip(names, colours, counts))


def classes(colouring: Colouring, n: int) -> Classes:
    """The colouring as legend classes: the commonest MAX_LEGEND_GROUPS groups (the rest as "other"),
    trust in tenths, retrieval counts in bins (more retrieved: bigger)."""
    base = point_pixels(n)
    one_size = np.zeros(n, dtype=np.uint8)
    if colouring.counts is not None:
        counts = np.asarray(colouring.counts)
        codes = np.zeros(n, dtype=np.uint16)
        names, colours = ["never retrieved"], [MUTED]
        for i, (lo, hi) in enumerate(COUNT_BINS, start=1):
            codes[(counts >= lo) & (counts <= (hi if hi is not None else np.inf))] = i
            names.append(f"{lo}+ times" if hi is None else (f"{lo} time{'s' if lo > 1 else ''}" if lo == hi
                                                            else f"{lo}–{hi} times"))
            colours.append(PLASMA[i - 1])
        sizes = tuple(base + 1.5 * i for i in range(len(names)))
        return Classes(codes, _entries(codes, names, colours), "times retrieved", codes.astype(np.uint8), sizes)
    if colouring.values is not None:
        values = np.asarray(colouring.values, dtype=float)
        tenth = np.clip(np.floor(np.nan_to_num(values, nan=0.0) * 10), 0, 9).astype(np.uint16)
        codes = np.where(np.isnan(values), 10, tenth).astype(np.uint16)
        names = [f"{10 * i}–{10 * i + 10}%" for i in range(10)] + ["not measured"]
        return Classes(codes, _entries(codes, names, list(VIRIDIS) + [MUTED]), colouring.value_label,
                       one_size, (base,))
    groups = pd.Series(colouring.groups if colouring.groups is not None else ["(none)"] * n, dtype=object)
    common = list(groups.value_counts().index[:MAX_LEGEND_GROUPS])
    shown = groups.where(groups.isin(common), "other")
    names = sorted(set(shown), key=lambda g: (g in UNNAMED_LAST, g))
    palette = {**category_colours(names), **colouring.colours}
    index = {name: i for i, name in enumerate(names)}
    codes = shown.map(index).to_numpy(dtype=np.uint16)
    return Classes(codes, _entries(codes, names, [palette.get(g, MUTED) for g in names]), "", one_size, (base,))


@dataclass(frozen=True)
class Frame:
    """How map coordinates become the component's [-1, 1] square (one scale for both axes)."""

    centre: tuple[float, float]
    half: float

    @classmethod
    def of(cls, coords: np.ndarray) -> Frame:
        if len(coords) == 0:
            return cls((0.0, 0.0), 1.0)
        lo, hi = coords[:, :2].min(axis=0), coords[:, :2].max(axis=0)
        half = float(max(hi[0] - lo[0], hi[1] - lo[1])) / 2 * 1.04
        return cls((float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2), half if half > 0 else 1.0)

    def apply(self, xy: np.ndarray) -> np.ndarray:
        return ((np.asarray(xy, dtype=np.float64)[..., :2] - self.centre) / self.half).astype(np.float32)


def points_bytes(coords: np.ndarray, rows: np.ndarray, found: Classes, frame: Frame) -> bytes:
    """The binary points file for the shown `rows` (see the module's docstring for the layout)."""
    rows = np.asarray(rows, dtype=np.uint32)
    xy = frame.apply(coords[rows])
    return b"".join((np.ascontiguousarray(xy[:, 0]).tobytes(), np.ascontiguousarray(xy[:, 1]).tobytes(),
                     rows.tobytes(), found.codes[rows].astype("<u2").tobytes(),
                     found.size_codes[rows].astype(np.uint8).tobytes()))


def hover_blocks(texts: Sequence[str], block: int = HOVER_BLOCK, chars: int = HOVER_CHARS) -> Iterator[tuple[int, bytes]]:
    """(block number, JSON array of the block's previews): whitespace folded, cut at `chars`.
    Plain text: the component sets it with textContent."""
    for number, start in enumerate(range(0, len(texts), block)):
        previews = []
        for text in texts[start:start + block]:
            flat = " ".join(text[:chars * 2].split())
            previews.append(flat if len(flat) <= chars else flat[:chars - 1] + "…")
        yield number, json.dumps(previews, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class MapLabel:
    x: float
    y: float
    text: str
    size: float  # font pixels
    level: int  # 0: always; n: from 2**n zoom on

    def as_list(self, frame: Frame) -> list:
        x, y = frame.apply(np.array([self.x, self.y]))
        return [float(x), float(y), self.text, round(self.size, 1), self.level]


def label_size(count: int, largest: int, level: int) -> float:
    """Bigger clusters get bigger text; finer levels are smaller."""
    top, bottom = (22.0, 12.0) if level == 0 else (14.0, 11.0)
    return bottom + (top - bottom) * float(np.sqrt(count / max(largest, 1)))


def topic_labels(coords: np.ndarray, texts: Sequence[str], levels: Sequence[int] = (8, 24, 72),
                 sample: int = 6_000, seed: int = 0, first_level: int = 0) -> list[MapLabel]:
    """Labels for regions of the map at several zooms: KMeans on the 2-D positions (of a seeded
    sample of at most `sample` points) with levels[i] regions at level first_level + i, each named
    by the c-TF-IDF terms of its texts. Regions are where the reader sees groups, so they are
    found on the picture, not in the full space."""
    from sklearn.cluster import KMeans

    from .clusters import ctfidf_terms

    n = len(coords)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, sample, replace=False)) if n > sample else np.arange(n)
    xy = np.asarray(coords[rows, :2], dtype=np.float64)
    picked = [texts[i] for i in rows]
    labels: list[MapLabel] = []
    previous = 1
    for level, wanted in enumerate(levels, start=first_level):
        k = min(wanted, len(rows) // 15)  # regions of at least ~15 points: fewer words make no topic
        if k <= previous:
            break
        previous = k
        regions = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(xy)
        terms = ctfidf_terms(picked, regions, n_terms=6)
        sizes = np.bincount(regions, minlength=k)
        names = distinct_names(terms, sizes, 3 if level else 2)
        for region, name in names.items():
            x, y = np.median(xy[regions == region], axis=0)
            labels.append(MapLabel(float(x), float(y), name,
                                   label_size(int(sizes[region]), int(sizes.max()), level), level))
    return labels


def distinct_names(terms: dict[int, tuple[str, ...]], sizes: np.ndarray, width: int) -> dict[int, str]:
    """A name of `width` terms per region, no two alike: KMeans cuts one topic into neighbouring regions
    that share their top terms, and two labels reading "father · man" side by side say nothing. Larger
    regions choose first; a smaller one takes the next combination of its own terms, in their order of
    distinctiveness, or goes unnamed."""
    from itertools import combinations

    taken: set[str] = set()
    names: dict[int, str] = {}
    for region in sorted(terms, key=lambda r: (-int(sizes[r]), r)):
        words = terms[region]
        for chosen in combinations(words, min(width, len(words))) if words else ():
            name = " · ".join(chosen)
            if name not in taken:
                taken.add(name)
                names[region] = name
                break
    return names


def cached_topic_labels(coords: np.ndarray, texts: Sequence[str], map_key: str, first_level: int = 0,
                        cache_dir: Path | None = DEFAULT_CACHE_DIR) -> list[MapLabel]:
    """`topic_labels` kept on disk beside the map they label (`map_key`: its points and layout):
    a few seconds of clustering and naming, paid once per map."""
    levels = (24, 72) if first_level else (8, 24, 72)
    # "names-2": labels cached before names were made distinct are not reused
    path = cache_dir / f"labels-{content_hash(map_key, str(first_level), 'names-2')[:32]}.json" if cache_dir else None
    if path is not None and path.exists():
        try:
            return [MapLabel(**item) for item in json.loads(path.read_text(encoding="utf-8"))]
        except (OSError, ValueError, TypeError):
            pass  # a damaged cache file is recomputed
    labels = topic_labels(coords, texts, levels, first_level=first_level)
    if path is not None:
        write_cache_file(path, json.dumps([asdict(label) for label in labels]).encode("utf-8"))
    return labels
