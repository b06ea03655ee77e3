"""Deny by default: every widget every page of a shared app draws is declared in gates.py, and its gate holds.

Each page is rendered under AppTest in two shared configurations (uploads on, a writable collection, a paid
embedder configured, small limits; and uploads off, nothing writable, nothing paid), and walked: every radio
through its options, every checkbox and toggle on, every embedder picker through its models, queries typed.
Every widget drawn on the way is checked (tests/test_gates.py `problems`): a widget without a key, or with a key
gates.py does not declare, fails, so a widget added to a page tomorrow fails here until someone says what it
reaches; a declared one fails when its gate does not hold."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_pages import finish_jobs, open_page
from core.embedders import EMBEDDERS
from core.sharing import SharingPolicy, load_policy, paid_embedder
from gates import EMBEDDER, MANAGE, PATH, QUERY, UPLOAD, WRITE, gate_of

# Every page file, so a new page is walked too.
PAGES = tuple(sorted(f"views/{page.name}" for page in (Path(__file__).resolve().parent.parent / "views").glob("*.py")))
TYPED = {"query": "Elizabeth Bennet", "map_query": "Elizabeth", "map_query_set": "Elizabeth\nthe creature",
         "chat_question": "Who is Mr. Darcy?"}
OPEN = """
uploads = true
max_k = 7
max_query_chars = 40
max_map_points = 500
max_compare_chunks = 300
max_queries = 20

[[explorer.embedders]]
name = "openai-small"
"""


def widgets(at) -> list[tuple[str, str | None, object]]:
    """(element type, user key or None, proto) of every widget drawn: anything with a widget id; a Plotly
    chart counts only when it takes selections (else it only shows)."""
    found = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        widget_id = getattr(proto, "id", "") if proto is not None else ""
        if isinstance(widget_id, str) and widget_id.startswith("$$ID"):
            kind = type(proto).__name__
            if kind != "PlotlyChart" or list(proto.selection_mode):
                key = widget_id.split("-", 2)[2]
                found.append((kind, None if key == "None" else key, proto))
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at._tree)
    return found


def problems(at, rules: SharingPolicy, writable: bool) -> list[str]:
    """Why the widgets drawn now are not all declared and gated (empty: they are)."""
    out = []
    for kind, key, proto in widgets(at):
        gate = gate_of(key) if key else None
        if key is None:
            out.append(f"a {kind} without a key ({getattr(proto, 'label', '')!r}): give it one and declare it")
        elif gate is None:
            out.append(f"{key} ({kind}) is not declared in gates.py: say what it reaches")
        elif gate in (PATH, MANAGE) and rules.shared:
            out.append(f"{key}: {gate} widget offered on a shared app")
        elif gate == UPLOAD and not rules.uploads.allowed:
            out.append(f"{key}: an uploader with uploads off")
        elif gate == WRITE and not writable:
            out.append(f"{key}: a write action on a read-only collection")
        elif gate == EMBEDDER:
            options = set(proto.options)
            leaked = [s.name for s in EMBEDDERS.values() if paid_embedder(s.name)
                      and not rules.offers_embedder(s.name) and {s.name, s.label} & options]
            if leaked:
                out.append(f"{key}: offers {leaked}, not configured for this shared app")
        elif gate == QUERY and not 0 < proto.max_chars <= rules.limits.query_chars:
            out.append(f"{key}: free text without the {rules.limits.query_chars}-character limit")
        elif gate.startswith("limit:") and kind in ("NumberInput", "Slider"):
            most = getattr(rules.limits, gate.removeprefix("limit:"))
            top = proto.max if kind == "NumberInput" else max(proto.max, *proto.default)
            if top > most:
                out.append(f"{key}: goes up to {top:g}, over the limit {gate} = {most:g}")
    return out


def walk_page(at, page: str, rules: SharingPolicy, writable: bool) -> tuple[list[str], set[str]]:
    """Render `page` and drive its choices; (problems, keys seen)."""
    found, seen = [], set()

    def look() -> None:
        assert not at.exception, (page, at.exception)
        found.extend(problems(at, rules, writable))
        seen.update(key for _, key, _ in widgets(at) if key)

    finish_jobs(at.switch_page(page).run())  # what shows once its background work is done is walked too
    look()
    for key, text in TYPED.items():
        typed = [w for w in at.text_input if w.key == key] + [w for w in at.text_area if w.key == key]
        for widget in typed:
            widget.set_value(text).run()
            look()
        if key == "chat_question" and at.get("chat_input"):
            at.chat_input(key=key).set_value(text).run()
            look()
    for toggle in [*at.checkbox, *at.toggle]:
        if toggle.key and not toggle.value and gate_of(toggle.key) not in (MANAGE, WRITE):
            toggle.check().run() if hasattr(toggle, "check") else toggle.set_value(True).run()
            look()
    for radio in list(at.radio):
        for option in radio.options:
            if radio.key:
                at.radio(key=radio.key).set_value(option).run()
                look()
    for box in list(at.selectbox):  # an embedder picker's options are checked as drawn; a paid one is picked,
        # which draws what only it shows (its button); the offline ones would load models for minutes
        picks = [i for i, o in enumerate(box.options) if box.key == "map_colour" or
                 (gate_of(box.key or "") == EMBEDDER and "openai" in o.lower())]
        for index in picks:
            at.selectbox(key=box.key).select_index(index).run()
            look()
    return found, seen


def shared_app(tmp_path, monkeypatch, store: str, section: str, writable: bool) -> SharingPolicy:
    text = f"""
[explorer]
mode = "shared"
{section}
[[explorer.stores]]
name = "Samples"
url = {json.dumps(store)}
writable = {json.dumps(["samples"] if writable else [])}
"""
    (tmp_path / "secrets.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("EXPLORER_SECRETS", str(tmp_path / "secrets.toml"))
    # A paid embedder is configured, with a key, at an address nothing answers: a call before a click would
    # show as an error on the page (checked: no exception, and the pages' errors are listed below).
    monkeypatch.setenv("OPENAI_API_KEY", "sk-gate-walk-never-sent")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    return load_policy()


@pytest.mark.parametrize("writable", [True, False], ids=["uploads-writable-paid", "uploads-off-read-only"])
def test_every_widget_on_every_page_is_declared_and_gated(app_env, tmp_path, monkeypatch, writable):
    monkeypatch.setattr("core.sweep.SWEEP_STORE_DIR", tmp_path / "sweeps")
    monkeypatch.setattr("core.compare.COMPARE_CACHE_DIR", tmp_path / "compare")
    rules = shared_app(tmp_path, monkeypatch, app_env, OPEN if writable else "uploads = false\n", writable)
    at = open_page()
    found, seen = [], set()
    try:
        for page in PAGES:
            page_problems, page_keys = walk_page(at, page, rules, writable)
            found += [f"{page}: {p}" for p in page_problems]
            seen |= page_keys
    finally:
        import ui

        ui.cached_embedder.clear()  # the server keeps one client per model: the paid one points nowhere
    assert not found, "\n".join(sorted(set(found)))
    # The walk reached deep: what only choices reveal was drawn and checked too.
    assert {"sidebar_collection", "map_cluster_method", "sweep_run", "query", "chat_question", "compare_colour"} <= seen
    if writable:
        assert {"ingest", "uploads", "sweep_uploads", "compare_paid_run", "delete_document"} <= seen
    assert len(seen) > 60


def test_a_new_undeclared_widget_fails_the_walk(app_env, tmp_path, monkeypatch):
    """What the walk does with a page that grows a widget nobody declared, or one without a key."""
    rules = shared_app(tmp_path, monkeypatch, app_env, "", False)

    def page() -> None:
        import streamlit as st

        st.text_input("Server folder", key="brand_new_folder")
        st.slider("Threads", 1, 64)
        st.number_input("Results (k)", 1, 1000, 10, key="k")  # declared, but over the limit
        st.text_input("Query", key="query")  # declared, but without the length limit

    at = AppTest.from_function(page).run()
    assert problems(at, rules, writable=False) == [
        "brand_new_folder (TextInput) is not declared in gates.py: say what it reaches",
        "a Slider without a key ('Threads'): give it one and declare it",
        "k: goes up to 1000, over the limit limit:k = 50",
        "query: free text without the 1000-character limit",
    ]
