"""The Labels & clusters page in headless Chromium on a store with injected label flips: click a
confusion-matrix cell, see its chunks selected on the map and in the table, fix their label.
Saves docs/screenshots/labels.png."""
from __future__ import annotations

import re

import pytest

from browser_fixtures import ROOT, app_tab, free_port, start_app, stop_app
from label_fixtures import labelled_store  # noqa: F401  (fixture)
from map_fixtures import sample_points  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture
def labels_server(labelled_store, tmp_path):
    port = free_port()
    process = start_app(labelled_store.store, port, tmp_path / "server.log",
                        env={"EXPLORER_LABELS_DIR": str(tmp_path / "labels")})
    yield f"http://127.0.0.1:{port}"
    stop_app(process)


def pick_collection(tab, name: str) -> None:
    box = tab.page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Collection")
    box.click()
    tab.page.get_by_role("option").filter(has_text=f"{name} ·").click()
    tab.page.locator(f'[data-testid="stSidebar"] input[value^="{name} · minilm"]').wait_for(state="attached")
    tab.settle()


def click_cell(tab, grid, row: int, column: int, n_columns: int, index_width: float = 105) -> None:
    """Click a cell of a Streamlit dataframe with an index (a canvas grid, no DOM cells): row 0 is the
    first data row, column 1 the first data column. Data columns share the width left by the index."""
    grid.evaluate("el => el.scrollIntoView({block: 'center'})")
    tab.page.wait_for_timeout(500)
    box = grid.bounding_box()
    width = (box["width"] - index_width) / n_columns
    x, y = box["x"] + index_width + width * (column - 0.5), box["y"] + 35 * (row + 1) + 17
    tab.page.mouse.move(x, y)
    tab.page.mouse.click(x, y)


def test_a_confusion_cell_selects_its_chunks_and_they_get_fixed(chromium, labels_server, labelled_store):
    with app_tab(chromium, labels_server) as tab:
        tab.open("labels")
        bleed = tab.page.get_by_role("heading", name="Which labels bleed into which")
        bleed.wait_for()
        tab.settle()
        pick_collection(tab, labelled_store.noisy)
        tab.page.get_by_role("heading").filter(has_text=re.compile(r"Suspect labels: [1-9]")).wait_for()
        tab.settle()
        tab.page.locator(".js-plotly-plot").first.wait_for()
        tab.settle()
        assert tab.exceptions() == []
        labels = sorted({truth for truth, _ in labelled_store.flipped.values()})
        document, (truth, given) = next(iter(labelled_store.flipped.items()))
        confusion = tab.page.locator('[data-testid="stDataFrame"]').nth(1)
        click_cell(tab, confusion, labels.index(given), labels.index(truth) + 1, len(labels))
        heading = tab.page.get_by_role("heading").filter(has_text="Selected:")
        heading.wait_for()
        tab.settle()
        assert f"labelled {given}, neighbours vote {truth}" in heading.inner_text()
        # The selected chunks are drawn on the map, suspects and outliers ringed.
        tab.page.wait_for_function("""() => {
            const names = document.querySelector('.js-plotly-plot')._fullData.map(t => t.name);
            return names.includes('selected') && names.includes('suspect labels') && names.includes('outliers');
        }""")
        tab.page.get_by_label("New label").fill(truth)
        tab.page.get_by_role("button", name="Set label of").click()
        tab.page.get_by_text("Version 1:", exact=False).first.wait_for()
        tab.settle()
        assert tab.exceptions() == []
        tab.page.get_by_text("Your fixes and tags (version 1)").wait_for()
        tab.page.set_viewport_size({"width": 1400, "height": 2600})
        tab.settle()
        tab.page.screenshot(path=str(SHOTS / "labels.png"), full_page=False)
