"""The Hybrid search page under AppTest, on the small real sample store."""
from __future__ import annotations

import pytest

from app_pages import open_page, texts
from core.samples import EXAMPLE_QUESTIONS
from core.search import DEFAULT_MODE


@pytest.fixture
def search_page(app_env):
    return open_page("views/search.py")


def test_hybrid_search_shows_highlighted_results_and_rrf_breakdown(search_page):
    at = search_page
    assert "Type a query to search the collection." in texts(at.info)
    at.text_input(key="query").input("Elizabeth Bennet").run()
    at.radio(key="fusion_method").set_value("rrf").run()
    assert not at.exception and not at.error
    assert texts(at.metric) == ["10"]
    cards = [h.value for h in at.html if "heading" in h.value]
    assert len(cards) == 10
    assert '<span class="term"' in cards[0] and "Elizabeth" in cards[0]
    breakdown = at.dataframe[0].value
    assert list(breakdown["list"]) == ["vector (cosine)", "keyword (BM25)", "fused"]
    vector = breakdown.iloc[0]
    if vector["rank in this list alone"] == vector["rank in this list alone"]:  # not NaN: in the vector list
        rank = int(vector["rank in this list alone"])
        assert vector["contribution"] == f"0.50 / (60 + {rank}) = {0.5 / (60 + rank):.5f}"
    sweep = at.dataframe[-1].value
    assert {"rrf_k=1", "rrf_k=10", "rrf_k=60", "rrf_k=200", "moved"} <= set(sweep.columns)
    assert len(sweep) >= 10


def test_category_filter_and_keyword_mode(search_page):
    at = search_page
    at.multiselect(key="categories").set_value(["gothic novel"])
    at.radio(key="mode").set_value("keyword")
    at.text_input(key="query").input("monster creature").run()
    assert not at.exception and not at.error
    cards = [h.value for h in at.html if "heading" in h.value]
    assert cards and all("gothic novel" in c and "frankenstein" in c for c in cards)
    assert list(at.dataframe[0].value["list"]) == ["keyword (BM25)", "result"]
    assert not any("moved" in d.value.columns for d in at.dataframe)  # the fusion sweep is hybrid-only


def test_the_sweep_varies_the_fusion_the_results_use(search_page):
    """Convex fusion (the default) moves with its weight, never with rrf_k, which it does not use."""
    at = search_page
    at.text_input(key="query").input("link reference definition").run()
    assert at.radio(key="fusion_method").value == "convex"
    columns = set(at.dataframe[-1].value.columns)
    assert {"weight=0.2", "weight=0.5", "weight=0.8", "moved"} <= columns
    assert not any(c.startswith("rrf_k") for c in columns)
    at.radio(key="sweep_varied_convex").set_value("depth").run()
    assert not at.exception
    assert {"depth=10", "depth=30", "depth=100", "depth=300"} <= set(at.dataframe[-1].value.columns)


def test_the_query_is_in_the_url_and_a_link_opens_with_it(app_env):
    at = open_page("views/search.py")
    at.text_input(key="query").input("creature on the glacier").run()
    assert at.query_params["q"] == "creature on the glacier"
    fresh = open_page("views/search.py", query_params={"q": "creature on the glacier"})
    assert fresh.text_input(key="query").value == "creature on the glacier"
    assert [h.value for h in fresh.html if "heading" in h.value]


def test_example_question_fills_the_query_and_searches_in_the_default_mode(search_page):
    at = search_page
    assert at.radio(key="mode").value == DEFAULT_MODE
    at.button(key="search_example_1").click().run()
    assert not at.exception and not at.error
    assert at.text_input(key="query").value == EXAMPLE_QUESTIONS[1]
    assert [h.value for h in at.html if "heading" in h.value]
