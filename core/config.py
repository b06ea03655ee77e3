"""Where things live and what the defaults are; secrets from the environment or
`.streamlit/secrets.toml`, never from anywhere that gets shown or logged."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from .types import ChunkSettings

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
MODEL_DIR = DATA_DIR / "models" / "all-MiniLM-L6-v2"
SAMPLES_DIR = DATA_DIR / "samples"
DEFAULT_STORE_DIR = DATA_DIR / "store"

DEFAULT_EMBEDDER = "minilm"
DEFAULT_COLLECTION = "library"
SAMPLE_COLLECTION = "samples"
DEFAULT_CHUNKING = ChunkSettings()


def default_store_url() -> str:
    return os.environ.get("EXPLORER_STORE") or str(DEFAULT_STORE_DIR)


def get_secret(name: str) -> str | None:
    """An API key or URL from the environment, else from .streamlit/secrets.toml."""
    value = os.environ.get(name)
    if value:
        return value
    secrets_file = Path(os.environ.get("EXPLORER_SECRETS", ROOT / ".streamlit" / "secrets.toml"))
    try:
        with secrets_file.open("rb") as fh:
            value = tomllib.load(fh).get(name)
    except (FileNotFoundError, tomllib.TOMLDecodeError):
        return None
    return str(value) if value else None
