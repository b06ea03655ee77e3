"""The Similarity page under AppTest, on the small real sample store."""
from __future__ import annotations

from app_pages import open_page, texts


def test_matrix_pairs_and_nearest_chunks(app_env):
    at = open_page("views/similarity.py")
    assert not at.error
    pairs = at.dataframe[0].value
    assert len(pairs) == 3
    assert (pairs.iloc[0]["text A"], pairs.iloc[0]["text B"]) == ("Java virtual threads", "Java lightweight concurrency")
    assert pairs["cosine"].is_monotonic_decreasing
    nearest = at.dataframe[1].value
    assert len(nearest) == 5 and nearest["cosine"].is_monotonic_decreasing

    at.text_area(key="similarity_texts").input("Elizabeth and Mr. Darcy\nthe creature in the mountains").run()
    at.selectbox(key="nearest_of").set_value(1).run()
    at.slider(key="nearest_k").set_value(3).run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 1
    nearest = at.dataframe[1].value
    assert len(nearest) == 3 and set(nearest["category"]) == {"gothic novel"}


def test_one_text_is_not_enough(app_env):
    at = open_page("views/similarity.py")
    at.text_area(key="similarity_texts").input("just one line\njust one line").run()
    assert "Enter at least two different texts, one per line." in texts(at.info)
    assert not at.exception
