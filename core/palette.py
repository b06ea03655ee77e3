"""One colour per category, the same on every page.

Colours come from a qualitative palette of 20 well-separated hues (Tableau 10,
then the 10 of Kelly's list that differ most from it), with no black and no
near-grey: black is kept for what the user points at (the query, the clicked
point, its neighbours) and grey for "other", "none" and the never-retrieved mass.

A category's colour is fixed by its position among the collection's categories
in sorted order, so every page that passes the same collection's categories
(`Collection.categories()`) paints a category alike, whatever subset it shows.
Past 20 categories colours repeat; pages fold the rarest into "other" well before.
"""
from __future__ import annotations

from typing import Iterable

QUALITATIVE: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
    "#1f9e89",
    "#875692", "#f3c300", "#a1caf1", "#be0032", "#c2b280", "#008856", "#e68fac", "#0067a5", "#604e97",
    "#8db600",
)
MUTED = "#b8b8b8"  # "other", no category, never retrieved
HIGHLIGHT = "#111111"  # query marker, clicked point, its neighbours, text-filter hits
SUSPECT_RING, OUTLIER_RING = "#dc2626", "#7c3aed"  # the labels check's suspect documents and outliers, on any map
UNNAMED = ("", "(none)", "other")


def category_colours(categories: Iterable[str]) -> dict[str, str]:
    """Category -> colour. Pass all of a collection's categories so every page agrees;
    "", "(none)" and "other" get MUTED."""
    named = sorted({c for c in categories if c not in UNNAMED})
    colours = {c: QUALITATIVE[i % len(QUALITATIVE)] for i, c in enumerate(named)}
    colours.update({c: MUTED for c in UNNAMED})
    return colours
