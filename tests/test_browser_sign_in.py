"""No page runs before sign-in: for every page URL (and a bogus one) a freshly started server in shared mode
with sign-in required gets that URL as its very first request, and shows the sign-in page only: no page
title, no widget, no sidebar list of pages. A fresh server per URL, because the hole this closes (a page file
served by Streamlit's own discovery before app.py) only ever showed on a server's first request. The servers
start side by side (each still gets no request but its health check before its test's)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from browser_fixtures import app_tab, free_port, launch_app, stop_app, wait_healthy

pytestmark = pytest.mark.browser

# Every page's URL path (st.navigation names a page after its file), the long form of the default page, and one
# that names no page at all.
FIRST_PATHS = ("", "library", "similarity", "search", "map", "chat", "sweep", "duplicates", "compare",
               "no-such-page")
PAGE_TITLES = ("Library & chunking", "Similarity", "Hybrid search", "Embedding map", "Ask (RAG chat)",
               "Chunking sweep", "Near-duplicates", "Compare embedders")
AUTH = """
[auth]
redirect_uri = "http://127.0.0.1:8501/oauth2callback"
cookie_secret = "not-a-real-secret-7d1c"
client_id = "explorer"
client_secret = "not-a-real-secret-7d1c"
server_metadata_url = "https://login.example/.well-known/openid-configuration"
"""


@pytest.fixture(scope="module")
def signed_secrets(sample_store: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sign-in") / "secrets.toml"
    path.write_text(f"""
[explorer]
mode = "shared"
uploads = true

[[explorer.stores]]
name = "Samples"
url = {json.dumps(sample_store)}
writable = ["samples"]
{AUTH}""", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fresh_servers(sample_store: str, signed_secrets: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[int, Path]]]:
    """One freshly started shared server per first path: its port and its log."""
    env = {"EXPLORER_SECRETS": str(signed_secrets), "OPENAI_API_KEY": "sk-MARKER-never-sent"}
    servers: dict[str, tuple[int, Path, subprocess.Popen]] = {}
    try:
        for path in FIRST_PATHS:
            log = tmp_path_factory.mktemp("sign-in-server") / "server.log"
            servers[path] = (port := free_port(), log, launch_app(sample_store, port, log, env))
        for port, log, process in servers.values():
            wait_healthy(process, port, log)
        yield {path: (port, log) for path, (port, log, _) in servers.items()}
    finally:
        for _, _, process in servers.values():
            stop_app(process)


@pytest.mark.parametrize("path", FIRST_PATHS, ids=lambda p: f"/{p}")
def test_the_first_request_to_a_fresh_server_shows_the_sign_in_page_only(path, chromium, fresh_servers):
    port, log = fresh_servers[path]
    with app_tab(chromium, f"http://127.0.0.1:{port}") as tab:
        tab.open(path)  # the server's first request: nothing has run app.py before
        page = tab.page
        page.locator("h1").first.wait_for()
        tab.settle()
        assert page.get_by_role("button", name="Sign in").count() == 1
        assert page.get_by_text("Sign in to explore the documents shared here.").count() == 1
        assert page.locator("h1").all_inner_texts() == ["Embedding Explorer"]
        assert page.locator('[data-testid="stSidebarNav"], [data-testid="stSidebarNavLink"]').count() == 0
        assert page.locator('[data-testid="stSidebar"]').count() == 0
        # No page content at all: the one element with a label is the sign-in button.
        assert page.locator("input, textarea, select, [data-testid='stFileUploader'], "
                            "[data-testid='stPlotlyChart'], [data-testid='stDataFrame']").count() == 0
        assert [b for b in page.get_by_role("button").all_inner_texts() if b.strip()] == ["Sign in"]
        body = page.inner_text("body")
        assert not [title for title in PAGE_TITLES if title in body], body
        assert "sk-MARKER-never-sent" not in page.content()
        assert tab.exceptions() == []
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
