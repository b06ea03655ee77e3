"""Where things live and what the defaults are; secrets from the environment or
`.streamlit/secrets.toml`, never from anywhere that gets shown or logged."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from .errors import ConfigError
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


def secrets_file() -> Path:
    """The file Streamlit reads as st.secrets when the app runs from the repository
    (EXPLORER_SECRETS points elsewhere, e.g. for tests)."""
    return Path(os.environ.get("EXPLORER_SECRETS", ROOT / ".streamlit" / "secrets.toml"))


def read_secrets() -> dict:
    """The whole secrets file: top-level keys, the [explorer] section (core/sharing.py) and [auth];
    empty when there is no file. A broken file is an error, not silently no configuration."""
    try:
        with secrets_file().open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{secrets_file()} is not valid TOML: {exc}") from exc


def get_secret(name: str) -> str | None:
    """An API key or URL from the environment, else from .streamlit/secrets.toml."""
    value = os.environ.get(name)
    if value:
        return value
    try:
        value = read_secrets().get(name)
    except ConfigError:
        return None
    return str(value) if value and not isinstance(value, dict) else None


def secrets_table(name: str) -> dict:
    """A [section] of .streamlit/secrets.toml (empty when there is none or the file is broken)."""
    try:
        table = read_secrets().get(name)
    except ConfigError:
        return {}
    return table if isinstance(table, dict) else {}
