"""Someone else's Chroma folder in the real app in headless Chromium: the map draws from its stored
vectors, the sidebar says whose it is, and the folder is byte-identical afterwards."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from browser_fixtures import app_tab, free_port, start_app, stop_app
from test_chroma_foreign import MAKE_FOLDER, folder_files

pytestmark = pytest.mark.browser


def test_a_foreign_chroma_folder_opens_and_draws_its_map(tmp_path, long_docs_corpus, chromium):
    folder, rows = tmp_path / "their-rag", tmp_path / "rows.json"
    wide = np.concatenate([long_docs_corpus.embeddings, long_docs_corpus.embeddings[::-1]], axis=1)
    rows.write_text(json.dumps({"ids": [c.id for c in long_docs_corpus.chunks],
                                "texts": [c.text for c in long_docs_corpus.chunks],
                                "metadatas": [{"category": c.metadata["category"]} for c in long_docs_corpus.chunks],
                                "minilm": long_docs_corpus.embeddings.tolist(), "wide": wide.tolist()}))
    subprocess.run([sys.executable, "-c", MAKE_FOLDER, str(folder), str(rows)], check=True, timeout=300)
    before = folder_files(folder)

    port = free_port()
    process = start_app(str(folder), port, tmp_path / "server.log")
    try:
        with app_tab(chromium, f"http://127.0.0.1:{port}", timeout_ms=120_000) as tab:
            page = tab.page
            page.goto(f"{tab.base_url}/")
            page.get_by_text("made by another program").first.wait_for()
            page.goto(f"{tab.base_url}/map")
            page.locator(".emap[data-points]").wait_for()
            page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')
            assert page.locator('[data-testid="stException"]').count() == 0
            drawn = int(page.locator(".emap").get_attribute("data-points"))
            assert drawn >= len(long_docs_corpus.chunks)
    finally:
        stop_app(process)
    assert folder_files(folder) == before
