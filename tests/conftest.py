"""Shared fixtures: the real model, real data from ../shared, fresh store folders."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["store_fixtures", "app_fixtures", "browser_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
LONG_DOCS = SHARED / "corpora" / "long_docs"
SCIFACT = SHARED / "eval" / "scifact"
SAMPLES = ROOT / "data" / "samples"

# The suite must never reach a model hub or a real provider.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
    os.environ.pop(key, None)
os.environ["EXPLORER_SECRETS"] = str(ROOT / "tests" / "no-secrets.toml")  # a developer's own keys stay out


@pytest.fixture(scope="session")
def minilm():
    """The real default embedder (ONNX MiniLM), loaded once per test session."""
    from core.embedders import get_embedder

    return get_embedder("minilm")


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A fresh, empty persistent Chroma folder."""
    return tmp_path / "store"
