"""The one gate (core/sharing.py) as the pages use it, under AppTest on the small real sample store: no paid call
without a click in any mode (a local OpenAI stand-in counts the requests), a shared app's limits on what one
request may compute, uploads charged to one budget and hidden when off, and scratch kept per session."""
from __future__ import annotations

import json

import numpy as np
import pytest

from app_pages import finish_jobs, open_page, texts
from fake_openai import FakeOpenAI
from core.stores import open_store
from core.types import Chunk, EmbedderInfo
from test_chroma_foreign import foreign_folder  # noqa: F401 (a fixture)

KEY = "sk-test-gate-2c71"


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    monkeypatch.setattr("core.sweep.SWEEP_STORE_DIR", tmp_path / "sweeps")
    monkeypatch.setattr("core.compare.COMPARE_CACHE_DIR", tmp_path / "compare")
    return tmp_path


@pytest.fixture
def fake_openai(monkeypatch):
    import ui

    with FakeOpenAI(api_key=KEY) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        yield fake
    ui.cached_embedder.clear()  # the server keeps one client per model: this one points at a fake now gone


def pick(selectbox, label_part: str):
    """Select the option whose shown label contains `label_part`."""
    return selectbox.select_index(next(i for i, o in enumerate(selectbox.options) if label_part in o))


def sent_texts(fake: FakeOpenAI) -> list[str]:
    return [text for request in fake.requests for text in request["body"]["input"]]


def test_compare_opens_offline_and_a_paid_model_runs_only_from_its_button(app_env, scratch, fake_openai):
    at = finish_jobs(open_page("views/compare.py"))
    assert at.selectbox(key="compare_model").value.name in ("bow-hash", "minilm-static")  # offline first
    assert len(at.get("plotly_chart")) == 2 and fake_openai.requests == []
    pick(at.selectbox(key="compare_model"), "text-embedding-3-small").run()
    at.number_input(key="compare_k").set_value(5).run()
    assert not at.exception and not at.error, texts(at.error)
    assert fake_openai.requests == [] and not at.get("plotly_chart")  # asked, changed a setting: nothing sent
    [button] = [b for b in at.button if b.key == "compare_paid_run"]
    chunks = int(button.label.split()[1].replace(",", ""))
    tokens = int(button.label.split("sends ~")[1].split()[0].replace(",", ""))
    assert "text-embedding-3-small" in button.label and chunks > 20 and tokens > chunks
    assert any("nothing is sent until you press the button" in i for i in texts(at.info))
    finish_jobs(button.click().run())
    assert not at.exception and not at.error, texts(at.error)
    assert len(sent_texts(fake_openai)) == chunks and len(at.get("plotly_chart")) == 2
    assert all(r["authorization"] == f"Bearer {KEY}" for r in fake_openai.requests)


def test_the_sweep_sends_nothing_to_a_paid_model_before_run(app_env, scratch, fake_openai):
    at = finish_jobs(open_page("views/sweep.py"))
    at.number_input(key="sweep_chars").set_value(20_000)
    at.multiselect(key="sweep_sizes").set_value([200])
    at.selectbox(key="sweep_model").set_value("openai-small").run()
    assert not at.exception and not at.error, texts(at.error)
    assert fake_openai.requests == []  # not timed, not embedded: nothing before the click
    button = at.button(key="sweep_run")
    assert button.label.startswith("Run sweep (sends ~") and "openai-small" in button.label
    finish_jobs(button.click().run())
    assert not at.exception and not at.error, texts(at.error)
    assert fake_openai.requests and at.dataframe


# -- shared mode: limits, embedders, uploads -------------------------------------------------

def shared_secrets(tmp_path, monkeypatch, store: str, extra: str = "") -> None:
    path = tmp_path / "secrets.toml"
    path.write_text(f"""
[explorer]
mode = "shared"
{extra}

[[explorer.stores]]
name = "Samples"
url = {json.dumps(store)}
writable = ["samples"]
""", encoding="utf-8")
    monkeypatch.setenv("EXPLORER_SECRETS", str(path))


def test_shared_mode_offers_no_paid_embedder_unless_configured(app_env, scratch, fake_openai, tmp_path, monkeypatch):
    shared_secrets(tmp_path, monkeypatch, app_env)
    at = open_page("views/compare.py")
    assert not [o for o in at.selectbox(key="compare_model").options if "OpenAI" in o]
    at.switch_page("views/sweep.py").run()
    assert at.selectbox(key="sweep_model").options == ["minilm", "bow-hash", "minilm-static"]
    shared_secrets(tmp_path, monkeypatch, app_env, '[[explorer.embedders]]\nname = "openai-small"\n')
    at.switch_page("views/compare.py").run()
    assert [o for o in at.selectbox(key="compare_model").options if "OpenAI" in o] == \
        ["OpenAI text-embedding-3-small"]
    assert fake_openai.requests == []


def test_a_collection_made_with_an_unoffered_paid_model_embeds_no_query(scratch, fake_openai, tmp_path, monkeypatch):
    """Its typed queries would go out with the server's key: a shared app that does not offer the model uses
    the collection from its stored vectors only, and says so."""
    folder = str(tmp_path / "store")
    texts_ = ["Elizabeth walks to Netherfield.", "The creature speaks of fire.", "A fenced code block uses ```."]
    collection = open_store(folder).open_collection("paid", EmbedderInfo("openai-small", 1536), create=True)
    collection.upsert([Chunk(id=f"c{i}", text=t, source="notes.txt", start=0, end=len(t), index=i,
                             metadata={"source": "notes.txt", "category": "notes"}) for i, t in enumerate(texts_)],
                      np.random.default_rng(0).normal(size=(3, 1536)).astype(np.float32))
    monkeypatch.setenv("EXPLORER_STORE", folder)
    shared_secrets(tmp_path, monkeypatch, folder)
    at = open_page("views/search.py")
    at.text_input(key="query").set_value("Elizabeth").run()
    assert not at.exception
    assert any("made with openai-small, a paid model this shared app does not offer" in e for e in texts(at.error))
    assert fake_openai.requests == []
    at.radio(key="mode").set_value("keyword").run()  # what works from the stored text still works
    assert not at.exception and not at.error and "Netherfield" in " ".join(h.value for h in at.html)
    shared_secrets(tmp_path, monkeypatch, folder, '[[explorer.embedders]]\nname = "openai-small"\n')
    at.radio(key="mode").set_value("vector").run()  # offered now: the query is embedded, with the server's key
    assert sent_texts(fake_openai) == ["Elizabeth"]


def test_shared_limits_bound_the_widgets_and_refuse_bigger_requests(app_env, scratch, tmp_path, monkeypatch):
    shared_secrets(tmp_path, monkeypatch, app_env, "max_k = 7\nmax_compare_chunks = 300\nmax_similarity_texts = 3\n"
                                                   "max_sweep_settings = 2\nmax_query_chars = 40\n")
    at = open_page("views/compare.py")
    assert at.number_input(key="compare_k").max == 7 and at.number_input(key="compare_max").max == 300
    assert at.number_input(key="compare_max").value == 300
    at.switch_page("views/sweep.py").run()  # its default grid has 3 settings
    assert "settings in one sweep: 3 is over this shared app's limit of 2" in " ".join(texts(at.error))
    at.multiselect(key="sweep_sizes").set_value([200]).run()
    assert at.number_input(key="sweep_k").max == 7 and not at.error
    at.switch_page("views/similarity.py").run()
    at.text_area(key="similarity_texts").set_value("one\ntwo\nthree\nfour").run()
    assert "texts compared at once: 4 is over this shared app's limit of 3" in " ".join(texts(at.error))
    at.switch_page("views/search.py").run()
    at.text_input(key="query").set_value("Elizabeth " * 5).run()  # 50 characters sent; the server cuts at 40
    assert at.text_input(key="query").max_chars == 40 and at.text_input(key="query").value == ("Elizabeth " * 5)[:40]
    assert not at.exception



def test_another_programs_folder_offers_no_write_action_and_says_why(foreign_folder, monkeypatch):
    """Local mode, where everything else is open: someone else's Chroma folder is read, never written."""
    monkeypatch.setenv("EXPLORER_STORE", str(foreign_folder))
    at = open_page()
    at.radio(key="source_kind").set_value("Built-in sample").run()
    assert not at.exception
    keys = {w.key for w in [*at.button, *at.selectbox, *at.text_input, *at.checkbox]}
    assert not keys & {"ingest", "ingest_into", "delete_document", "create_collection", "new_collection",
                       "delete_collection", "doomed_collection", "import_vectors", "import_collection"}
    shown = texts(at.caption)
    assert any("is another program's data: it is read here, never written to." in c for c in shown), shown
    assert "This store is another program's data: collections are read here, never created, imported or deleted." \
        in shown
