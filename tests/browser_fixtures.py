"""The real app served by `streamlit run` and driven by headless Debian Chromium.

`app_server` starts one server per test session on the small sample store;
`browser_page` gives each test a fresh tab (a fresh Streamlit session) and
records every request it makes, so a test can prove nothing was fetched.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# WebGL through SwiftShader (software): the map component draws with it on machines without a GPU.
CHROMIUM_ARGS = ["--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
START_TIMEOUT = 60  # seconds for the server to answer its health check
# Served pages by URL path (st.navigation names them after their files; the default is "/").
PAGE_PATHS = ("", "similarity", "search", "map", "chat", "sweep", "duplicates", "compare", "labels")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(store: str, port: int, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`streamlit run app.py` on 127.0.0.1:port with EXPLORER_STORE=store (and `env` on top of this
    process's environment); returns once it is healthy."""
    return wait_healthy(launch_app(store, port, log, env), port, log)


def launch_app(store: str, port: int, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`streamlit run app.py` started as `start_app` starts it, without waiting for it to answer."""
    env = {**os.environ, "EXPLORER_STORE": store, "HF_HUB_OFFLINE": "1", **(env or {})}
    command = [str(ROOT / ".venv" / "bin" / "python"), "-m", "streamlit", "run", "app.py",
               "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return process


def wait_healthy(process: subprocess.Popen, port: int, log: Path) -> subprocess.Popen:
    """Returns `process` once the app on `port` answers its health check (stops it and raises if it does not)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return process
        except OSError:
            time.sleep(0.3)
    stop_app(process)
    raise RuntimeError(f"streamlit did not answer within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


def stop_app(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def app_server(sample_store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the app served on the small sample store."""
    port = free_port()
    process = start_app(sample_store, port, tmp_path_factory.mktemp("streamlit") / "server.log")
    yield f"http://127.0.0.1:{port}"
    stop_app(process)


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@dataclass
class BrowserPage:
    """A tab on the app and every URL it requested."""

    page: object  # playwright.sync_api.Page
    base_url: str
    requests: list[str] = field(default_factory=list)

    def open(self, path: str = "") -> None:
        self.page.goto(f"{self.base_url}/{path}")
        self.settle()

    def settle(self, timeout_ms: int = 60_000) -> None:
        """Wait until no script run is going on (after an action, first wait for what it shows)."""
        self.page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                                    timeout=timeout_ms)

    def exceptions(self) -> list[str]:
        return self.page.locator('[data-testid="stException"]').all_inner_texts()


@contextmanager
def app_tab(chromium, base_url: str, tab_class: type[BrowserPage] = BrowserPage,
            timeout_ms: int = 60_000) -> Iterator[BrowserPage]:
    """A tab in a fresh browser context (so a fresh Streamlit session) for the app at `base_url`,
    recording every request; not navigated yet. Closed on leaving."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(timeout_ms)
        tab = tab_class(page, base_url)
        page.on("request", lambda request: tab.requests.append(request.url))
        yield tab
    finally:
        context.close()


@pytest.fixture
def browser_page(chromium, app_server: str) -> Iterator[BrowserPage]:
    """A fresh tab (a fresh Streamlit session) on the app's default page."""
    with app_tab(chromium, app_server) as tab:
        # Start on "/": a server whose very first session opens another page runs that page
        # the Streamlit-1.x "views/ folder" way once (no app.py, no sidebar) before st.navigation takes over.
        tab.open()
        yield tab

