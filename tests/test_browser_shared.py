"""The real app in shared mode, in headless Chromium, with DATABASE_URL and every API key set to
marker values: every page opens, no marker reaches the page (DOM, input values) or any websocket
frame, there is no path or folder to type, and only the configured stores can be picked."""
from __future__ import annotations

import json
import re
from typing import Iterator

import pytest

from browser_fixtures import PAGE_PATHS, BrowserPage, app_tab, free_port, start_app, stop_app
from core.config import SAMPLE_COLLECTION
from core.stores import open_store
from core.stores.transfer import copy_collection

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

DB_PASSWORD = "pw-MARKER-db-31c9"
KEYS = {"OPENAI_API_KEY": "sk-MARKER-openai-84f2", "ANTHROPIC_API_KEY": "sk-ant-MARKER-anthropic-0b7e",
        "OPENAI_COMPATIBLE_API_KEY": "MARKER-compatible-d15a"}
MARKERS = (DB_PASSWORD, *KEYS.values())
STORE_NAMES = ["Samples", "Team database"]
# Labels of every input that would take a path, a folder, a server address or a URL.
PATH_INPUTS = ("Folder", "Paths, one per line", "BEIR folder (corpus.jsonl, queries.jsonl, qrels/)",
               "Chroma server (host:port)", "PostgreSQL URL", "Base URL")


@pytest.fixture(scope="module")
def team_database(postgres_url: str, sample_store: str) -> Iterator[tuple[str, str]]:
    """(URL with the marker password, collection): a copy of the samples in the real PostgreSQL,
    which trusts local connections, so any password connects."""
    marked = re.sub(r"^postgresql://([^:@/]+)(:[^@]*)?@", rf"postgresql://\1:{DB_PASSWORD}@", postgres_url)
    assert DB_PASSWORD in marked
    database = open_store(marked)
    name = f"shared-{free_port()}"
    copy_collection(open_store(sample_store), database, SAMPLE_COLLECTION, name)
    yield marked, name
    database.delete_collection(name)


@pytest.fixture(scope="module")
def shared_server(sample_store: str, team_database: tuple[str, str],
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, collection = team_database
    folder = tmp_path_factory.mktemp("shared-app")
    secrets = folder / "secrets.toml"
    secrets.write_text(f"""
[explorer]
mode = "shared"
uploads = true
max_upload_mb = 0.01
max_session_upload_mb = 0.015

[[explorer.stores]]
name = "Samples"
url = {json.dumps(sample_store)}

[[explorer.stores]]
name = "Team database"
url_secret = "DATABASE_URL"
collections = [{json.dumps(collection)}]
writable = [{json.dumps(collection)}]
""", encoding="utf-8")
    env = {"EXPLORER_SECRETS": str(secrets), "DATABASE_URL": url, **KEYS,
           "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}  # a key used anyway (compare page) fails fast, locally
    port = free_port()
    process = start_app(sample_store, port, folder / "server.log", env)
    yield f"http://127.0.0.1:{port}"
    stop_app(process)


class RecordingTab(BrowserPage):
    """A tab that also keeps every websocket frame, both ways."""

    frames: list[bytes]

    def frames_text(self) -> str:
        return b"".join(f if isinstance(f, bytes) else f.encode() for f in self.frames).decode("utf-8", "replace")

    def everything_sent(self) -> str:
        """The frames, the page's DOM and the value of every input."""
        values = self.page.eval_on_selector_all("input, textarea", "els => els.map(e => e.value)")
        return "\n".join([self.frames_text(), self.page.content(), *values])


@pytest.fixture
def shared_tab(chromium, shared_server: str) -> Iterator[RecordingTab]:
    with app_tab(chromium, shared_server, RecordingTab) as tab:
        tab.frames = []

        def keep(payload) -> None:
            tab.frames.append(payload)

        def record(websocket) -> None:
            websocket.on("framereceived", keep)
            websocket.on("framesent", keep)

        tab.page.on("websocket", record)
        tab.open()
        yield tab


def store_options(tab: RecordingTab) -> list[str]:
    tab.page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Store").click()
    options = tab.page.get_by_role("option")
    options.first.wait_for()
    return options.all_inner_texts()


def test_every_page_opens_without_a_secret_or_a_path(shared_tab, sample_store):
    tab = shared_tab
    for path in PAGE_PATHS:
        tab.open(path)
        tab.page.locator("h1").first.wait_for()
        assert tab.exceptions() == [], f"/{path}"
        for label in PATH_INPUTS:
            assert tab.page.get_by_label(label, exact=True).count() == 0, (path, label)
        sent = tab.everything_sent()
        assert not [marker for marker in MARKERS if marker in sent], f"/{path}"
        assert sample_store not in sent, f"/{path}: the store's folder reached the browser"
    assert "Samples" in tab.frames_text()  # the frames are really read: the store's display name is there


def test_only_configured_stores_can_be_picked_and_the_database_stays_hidden(shared_tab, team_database):
    tab = shared_tab
    _, collection = team_database
    assert store_options(tab) == STORE_NAMES
    tab.page.keyboard.press("Escape")
    pick_store(tab, "Team database", collection)
    tab.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Hybrid search").click()
    tab.page.get_by_label("Query").fill("Elizabeth Bennet")
    tab.page.get_by_label("Query").press("Enter")
    tab.page.get_by_text(re.compile(r"^#1 · ")).first.wait_for()
    tab.settle()
    assert tab.exceptions() == []
    tab.page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Ask (RAG chat)").click()
    tab.settle()
    answer_with = tab.page.locator('[data-testid="stSelectbox"]').filter(has_text="Answer with")
    answer_with.click()
    assert tab.page.get_by_role("option").all_inner_texts() == ["Extractive (offline)", "OpenAI", "Anthropic"]
    tab.page.keyboard.press("Escape")
    sent = tab.everything_sent()
    assert not [marker for marker in MARKERS if marker in sent]
    assert "127.0.0.1:54329" not in sent and "Team database" in tab.frames_text()


def pick_store(tab: RecordingTab, name: str, collection: str) -> None:
    store_options(tab)
    tab.page.get_by_role("option", name=name).click()
    tab.page.locator(f'[data-testid="stSidebar"] input[value^="{collection} · minilm"]').wait_for(state="attached")
    tab.settle()


def upload_and_ingest(tab: RecordingTab, name: str, size: int, outcome: str) -> str:
    """Add one text file of `size` bytes to the uploader (which keeps the earlier ones), press Ingest;
    the text of the `outcome` box ("Success" or "Error") that follows."""
    files = tab.page.locator('[data-testid="stFileUploader"]').get_by_text(re.compile(r"\.txt$"))
    before = files.count()
    words = " ".join(f"{name.split('.')[0]}-word-{n}" for n in range(size))[:size]
    tab.page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        {"name": name, "mimeType": "text/plain", "buffer": words.encode()})
    ingest = tab.page.get_by_role("button", name=f"Ingest {before + 1} file(s)", exact=False)
    ingest.wait_for()
    tab.settle()
    ingest.click()
    box = tab.page.locator(f'[data-testid="stAlertContent{outcome}"]').first
    box.wait_for()
    tab.settle()
    return box.inner_text()


def test_uploads_go_only_into_the_writable_collection_within_the_limits(shared_tab, team_database):
    """Per file 0.01 MB, per session 0.015 MB (configured): an 8 KB file goes in; a second one would take
    the session over its limit; a 12 KB one is over the per-file limit."""
    tab = shared_tab
    _, collection = team_database
    pick_store(tab, "Team database", collection)
    assert tab.page.get_by_text("Files on this machine (paths)").count() == 0
    tab.page.get_by_text("Upload files", exact=True).click()
    tab.settle()
    assert "1 file(s): " in upload_and_ingest(tab, "first.txt", 8_000, "Success")
    assert "over its 0.015 MB upload limit" in upload_and_ingest(tab, "second.txt", 8_000, "Error")
    assert "over the 0.01 MB limit per file: large.txt" in upload_and_ingest(tab, "large.txt", 12_000, "Error")
    assert tab.exceptions() == []


def test_a_read_only_collection_offers_no_upload_and_no_paths(shared_tab):
    """Nothing is writable here: the Library offers no uploader, only a sample to preview."""
    tab = shared_tab
    tab.open()
    tab.page.locator("h1").first.wait_for()
    assert tab.page.locator('[data-testid="stFileUploader"]').count() == 0
    assert tab.page.get_by_text("Files on this machine (paths)").count() == 0
    assert tab.page.get_by_text("'samples' is read-only on this shared app.").count() == 1
