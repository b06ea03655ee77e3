"""The app under both policies (core/sharing.py): in shared mode only configured stores, collections
and language models, no paths on the server, writes only into writable collections; sign-in pages;
and in every mode no secret in anything sent to the browser."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app_pages import open_page, texts
from core.config import DEFAULT_CHUNKING
from core.pipeline import Upload, ingest
from core.stores import open_store

DB_PASSWORD = "pw-MARKER-4e1b"
KEYS = {"OPENAI_API_KEY": "sk-MARKER-openai-9c2d", "ANTHROPIC_API_KEY": "sk-ant-MARKER-7f3a",
        "OPENAI_COMPATIBLE_API_KEY": "MARKER-compatible-51e0"}
MARKERS = (DB_PASSWORD, *KEYS.values())
PAGES = ("views/library.py", "views/similarity.py", "views/search.py", "views/map.py", "views/chat.py",
         "views/sweep.py", "views/duplicates.py", "views/compare.py")


def write_secrets(path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("EXPLORER_SECRETS", str(path))


def sent_to_browser(at) -> str:
    """Every element the script produced, as its protobuf text: what the server sends the browser."""
    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            yield str(proto)
        for child in getattr(node, "children", {}).values():
            yield from walk(child)
    return "\n".join(walk(at._tree))


@pytest.fixture
def notes_store(tmp_path: Path, minilm) -> str:
    """A store with a small 'notes' collection (writable in the shared configuration) beside 'archive'."""
    folder = str(tmp_path / "team-store")
    store = open_store(folder)
    for name in ("notes", "archive"):
        ingest([Upload(f"{name}.md", f"# {name}\n\nMeeting minutes about the {name} budget.\n".encode())],
               store.open_collection(name, minilm.info), minilm, DEFAULT_CHUNKING)
    return folder


@pytest.fixture
def shared_app(app_env: str, notes_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("EXPLORER_MODE", "shared")
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    write_secrets(tmp_path / "secrets.toml", monkeypatch, f"""
[explorer]
uploads = true
max_upload_mb = 1
max_session_upload_mb = 2

[[explorer.stores]]
name = "Samples"
url = {json.dumps(app_env)}

[[explorer.stores]]
name = "Team notes"
url = {json.dumps(notes_store)}
writable = ["notes"]

[[explorer.llms]]
name = "Team server"
provider = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
""")
    return {"samples": app_env, "team": notes_store}


def test_shared_mode_offers_only_configured_stores_and_no_paths(shared_app):
    at = open_page()
    store_picker = at.sidebar.selectbox(key="shared_store")
    assert store_picker.options == ["Samples", "Team notes"]
    assert not at.sidebar.text_input and not at.sidebar.radio  # no folder, server or URL to type
    [label] = at.sidebar.selectbox[1].options
    assert label.startswith("samples · minilm · ") and label.endswith(" · read-only")
    # Library on a read-only collection: a sample to preview, nothing to write, no paths, no collections to make.
    assert at.radio(key="source_kind").options == ["Built-in sample"]
    assert not [b for b in at.button if b.key in ("ingest", "create_collection", "delete_collection",
                                                   "delete_document")]
    assert "'samples' is read-only on this shared app." in texts(at.caption)
    assert shared_app["samples"] not in sent_to_browser(at)  # the store's location stays on the server


def test_shared_mode_lists_only_configured_collections(shared_app, tmp_path, monkeypatch):
    write_secrets(tmp_path / "only-notes.toml", monkeypatch, f"""
[[explorer.stores]]
name = "Team notes"
url = {json.dumps(shared_app["team"])}
collections = ["notes"]
""")
    at = open_page()
    assert at.sidebar.selectbox[1].options[0].startswith("notes · ") and len(at.sidebar.selectbox[1].options) == 1
    listed = [table.value for table in at.dataframe]
    assert listed and all("archive" not in table.to_string() for table in listed)
    assert "archive" not in sent_to_browser(at)


def test_shared_mode_writes_only_into_writable_collections(shared_app):
    at = open_page()
    at.sidebar.selectbox(key="shared_store").set_value(1).run()
    labels = at.sidebar.selectbox[1].options
    assert [label.rsplit(" · ", 1)[1] for label in labels] == ["read-only", "writable"]  # archive, notes
    at.sidebar.selectbox[1].set_value("archive").run()
    assert not [b for b in at.button if b.key in ("ingest", "delete_document")]
    at.sidebar.selectbox[1].set_value("notes").run()
    assert at.session_state["collection"] == "notes"
    assert at.radio(key="source_kind").options == ["Upload files", "Built-in sample"]
    at.radio(key="source_kind").set_value("Built-in sample").run()
    assert at.button(key="ingest") and at.button(key="delete_document")
    assert not [b for b in at.button if b.key in ("create_collection", "delete_collection")]
    assert shared_app["team"] not in sent_to_browser(at)


def test_shared_chat_and_sweep_offer_configured_things_only(shared_app):
    at = open_page("views/chat.py")
    assert at.selectbox(key="chat_endpoint").options == ["Extractive (offline)", "Team server"]
    at.selectbox(key="chat_endpoint").set_value(1).run()
    assert not at.exception
    assert not at.text_input  # no base URL, no model, no own key (user_keys is off)
    at.switch_page("views/sweep.py").run()
    assert at.radio(key="sweep_source").options == ["Questions on documents (CSV)"]  # no BEIR folder path
    assert not [t for t in at.text_input if t.key == "sweep_beir"]


def test_visitors_own_key_is_a_password_box_when_allowed(shared_app, tmp_path, monkeypatch):
    write_secrets(tmp_path / "open-keys.toml", monkeypatch, f"""
[explorer]
user_keys = true
[[explorer.stores]]
name = "Samples"
url = {json.dumps(shared_app["samples"])}
""")
    at = open_page("views/chat.py")
    assert at.selectbox(key="chat_endpoint").options == ["Extractive (offline)", "OpenAI", "Anthropic"]
    at.selectbox(key="chat_endpoint").set_value(1).run()
    own_key = at.text_input(key="chat_user_key_1")
    assert own_key.proto.type == own_key.proto.PASSWORD and own_key.value == ""  # never prefilled
    assert not any(marker in sent_to_browser(at) for marker in MARKERS)


def test_sign_in_required_but_not_configured_is_a_clear_page(app_env, tmp_path, monkeypatch):
    write_secrets(tmp_path / "s.toml", monkeypatch, "[explorer]\nrequire_sign_in = true\n")
    at = open_page()
    assert "requires sign-in, but no sign-in provider is configured" in " ".join(texts(at.error))
    assert not at.sidebar.selectbox and not at.radio and not at.text_input


def test_sign_in_page_when_auth_is_configured(app_env, tmp_path, monkeypatch):
    write_secrets(tmp_path / "s.toml", monkeypatch, """
[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "not-a-real-secret"
client_id = "explorer"
client_secret = "not-a-real-secret"
server_metadata_url = "https://login.example/.well-known/openid-configuration"
""")
    at = open_page()
    assert at.button(key="sign_in") and "Sign in to explore the documents shared here." in texts(at.info)
    assert not at.sidebar.selectbox and not at.text_input
    assert "not-a-real-secret" not in sent_to_browser(at)


def test_broken_configuration_stops_with_a_message(app_env, tmp_path, monkeypatch):
    write_secrets(tmp_path / "s.toml", monkeypatch, "[explorer]\nmode = \"shared\"\n[[explorer.stores]]\nurl = \"/x\"\n")
    at = open_page()
    assert "configuration needs fixing" in " ".join(texts(at.error)) and "needs a name" in " ".join(texts(at.error))
    assert not at.sidebar.selectbox


def test_local_mode_sends_no_secret_to_the_browser(app_env, monkeypatch):
    """DATABASE_URL's password and the keys are set; no page, with PostgreSQL picked, sends any of them."""
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:1/explorer")
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    at = open_page()
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, page
        assert not any(marker in sent_to_browser(at) for marker in MARKERS), page
    at.sidebar.radio[0].set_value("PostgreSQL + pgvector").run()
    shown = sent_to_browser(at)
    assert "postgresql://postgres:***@127.0.0.1:1/explorer" in shown
    assert not any(marker in shown for marker in MARKERS)
    assert at.session_state["store_url"].startswith(f"postgresql://postgres:{DB_PASSWORD}@")  # server-side only
    # Opening an existing table instead: the catalog cannot be read, and the message names the host only.
    at.sidebar.radio(key="pg_contents").set_value("An existing table (read-only)").run()
    shown = sent_to_browser(at)
    assert "cannot read the tables of PostgreSQL at 127.0.0.1:1/explorer" in shown
    assert not any(marker in shown for marker in MARKERS)
