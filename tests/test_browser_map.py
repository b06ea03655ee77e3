"""The map in headless Chromium: click a point and read its neighbours, box-select a region and
read the table. Saves docs/screenshots/map-neighbours.png and map-selection.png."""
from __future__ import annotations

import pytest

from browser_fixtures import ROOT

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"
CHART = ".js-plotly-plot"


def open_map(tab) -> None:
    tab.open("map")
    chart = tab.page.locator(CHART).first
    chart.wait_for()
    tab.settle()
    chart.scroll_into_view_if_needed()  # points are clicked by screen position: the chart must be in view


def screenshot(tab, name: str, last) -> None:
    """The map and what the user got below it (`last`), in one tall picture."""
    tab.page.mouse.move(5, 5)  # no hover label over the picture
    tab.page.set_viewport_size({"width": 1400, "height": 2200})
    tab.settle()
    top = tab.page.locator(CHART).first.bounding_box()["y"] - 60
    bottom = last.bounding_box()
    tab.page.screenshot(path=str(SHOTS / name), clip={"x": 300, "y": max(top, 0), "width": 1100,
                                                     "height": bottom["y"] + bottom["height"] + 20 - max(top, 0)})


def point_on_screen(tab, trace: int = 0, index: int = 0) -> tuple[float, float]:
    """Page coordinates of one drawn point (WebGL points have no DOM node to click)."""
    box = tab.page.locator(CHART).first.bounding_box()
    x, y = tab.page.evaluate(
        """([trace, index]) => {
            const gd = document.querySelector('.js-plotly-plot');
            const data = gd._fullData[trace], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            return [xa._offset + xa.l2p(data.x[index]), ya._offset + ya.l2p(data.y[index])];
        }""", [trace, index])
    return box["x"] + x, box["y"] + y


def test_click_a_point_lists_its_neighbours(browser_page):
    tab = browser_page
    open_map(tab)
    x, y = point_on_screen(tab, trace=0, index=5)
    tab.page.mouse.move(x, y)
    tab.page.mouse.click(x, y)
    tab.page.get_by_text("Clicked point").wait_for()
    tab.page.get_by_text("nearest chunks in the full").wait_for()
    tab.settle()
    assert tab.exceptions() == []
    assert tab.page.locator('[data-testid="stDataFrame"]').count() >= 1
    # The neighbours are ringed on the map (plotly redraws after the script run ends).
    tab.page.wait_for_function("""() => {
        const names = document.querySelector('.js-plotly-plot')._fullData.map(t => t.name);
        return names.includes('nearest in the full space') && names.includes('clicked');
    }""")
    screenshot(tab, "map-neighbours.png", tab.page.locator('[data-testid="stDataFrame"]').first)


def test_box_select_shows_the_table(browser_page):
    tab = browser_page
    open_map(tab)
    chart = tab.page.locator(CHART).first
    chart.hover()
    tab.page.locator(f'{CHART} .modebar-btn[data-title="Box Select"]').click()
    plot = tab.page.locator(f"{CHART} .nsewdrag").first.bounding_box()
    left, top = plot["x"] + plot["width"] * 0.2, plot["y"] + plot["height"] * 0.2
    tab.page.mouse.move(left, top)
    tab.page.mouse.down()
    tab.page.mouse.move(left + plot["width"] * 0.3, top + plot["height"] * 0.3, steps=10)
    tab.page.mouse.move(left + plot["width"] * 0.6, top + plot["height"] * 0.6, steps=10)
    tab.page.mouse.up()
    heading = tab.page.get_by_text("Selected region:")
    heading.wait_for()
    tab.settle()
    assert tab.exceptions() == []
    assert int(heading.inner_text().split(":")[1].split()[0].replace(",", "")) > 0
    assert tab.page.get_by_text("Selected chunks (CSV").count() == 1
    assert tab.page.locator('[data-testid="stDataFrame"]').count() >= 1
    screenshot(tab, "map-selection.png", tab.page.get_by_text("Search within the selection"))
