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


BIG_STORE_BUILD = pytest.StashKey["BigStoreBuild"]()


@pytest.hookimpl(trylast=True)  # after -k / -m have deselected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """When a test on the 100k-point store was collected, start building it now (map_fixtures.BigStoreBuild)."""
    if any("big_store" in getattr(item, "fixturenames", ()) for item in items):
        from map_fixtures import BigStoreBuild

        config.stash[BIG_STORE_BUILD] = BigStoreBuild.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    build = config.stash.get(BIG_STORE_BUILD, None)
    if build is not None:
        build.remove()


@pytest.fixture(scope="session")
def big_store(request: pytest.FixtureRequest) -> str:
    """The folder of a Chroma store whose collection 'big' holds 100,000 points (map_fixtures.build_big_store),
    built in the background since the session's tests were collected."""
    return request.config.stash[BIG_STORE_BUILD].wait()


@pytest.fixture(scope="session")
def minilm():
    """The real default embedder (ONNX MiniLM), loaded once per test session."""
    from core.embedders import get_embedder

    return get_embedder("minilm")


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A fresh, empty persistent Chroma folder."""
    return tmp_path / "store"
