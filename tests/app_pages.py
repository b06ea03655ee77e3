"""Opening one page of the real app under AppTest (helpers for the test_app_* modules)."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60


def open_page(page: str | None = None, query_params: dict[str, str] | None = None) -> AppTest:
    """The app run on its default page (Library), then switched to `page` (e.g. "views/search.py");
    `query_params` are the URL's (a copied link), present from the first run."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(query_params or {})
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


def finish_jobs(at: AppTest, timeout: float = TIMEOUT) -> AppTest:
    """Wait for the session's background jobs (ui.run_in_background) to end and rerun the page, which shows their
    outcome (under AppTest a job's progress fragment does not rerun the page), until the page starts no more."""
    for _ in range(5):  # a page may start its next job from the last one's result (Compare: then its label check)
        jobs = list(at.session_state["_jobs"].values()) if "_jobs" in at.session_state else []
        if not jobs:
            return at
        for job in jobs:
            assert job.wait(timeout), f"{job.label} still running after {timeout} s"
        at.run()
        assert not at.exception, at.exception
    raise AssertionError("the page keeps starting background jobs")
