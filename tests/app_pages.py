"""Opening one page of the real app under AppTest (helpers for the test_app_* modules)."""
from __future__ import annotations

from pathlib import Path

import streamlit.testing.v1.app_test as app_test
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60


class _NavigationPagesManager(PagesManager):
    """AppTest (Streamlit 1.67) resets `uses_pages_directory` before every run, and
    with a pages/ folder beside app.py it then runs the pages the old (v1) way: from
    the second run on, app.py (sidebar, st.navigation) is skipped and only the page
    runs. A real server sets the flag False once st.navigation is called; so do we."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


app_test.PagesManager = _NavigationPagesManager


def open_page(page: str | None = None) -> AppTest:
    """The app run on its default page (Library), then switched to `page` (e.g. "pages/search.py")."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    if page is None:
        return at
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]
