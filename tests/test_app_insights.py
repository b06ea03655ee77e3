"""The Chunking sweep, Near-duplicates and Compare embedders pages under AppTest, on the small real
sample store; the sweep's scratch store and the comparison cache go to temporary folders."""
from __future__ import annotations

import pytest

from app_pages import finish_jobs, open_page, texts
from core.samples import SWEEP_CHARS


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    monkeypatch.setattr("core.sweep.SWEEP_STORE_DIR", tmp_path / "sweeps")
    monkeypatch.setattr("core.compare.COMPARE_CACHE_DIR", tmp_path / "compare")
    return tmp_path


def test_sweep_scores_the_sample_questions_per_passage(app_env, scratch):
    at = finish_jobs(open_page("views/sweep.py"))  # the estimate's token count and timing of the model
    assert not at.exception and not at.error
    assert at.number_input(key="sweep_chars").value == SWEEP_CHARS
    assert any("Estimated time: about" in c for c in texts(at.caption) + texts(at.warning))
    at.number_input(key="sweep_chars").set_value(30_000)  # too short for the Pride and Prejudice passages
    at.multiselect(key="sweep_sizes").set_value([200, 512])
    at.run()
    assert any("3 document(s), 19 question(s), 2 setting(s)" in c for c in texts(at.caption)), texts(at.caption)
    assert any("7 question(s) have a passage no document holds" in w for w in texts(at.warning))
    at.button(key="sweep_run").click().run()
    finish_jobs(at)  # a background job of the session
    assert not at.exception and not at.error, (at.exception, texts(at.error))
    results = at.dataframe[-1].value
    assert list(results["setting"]) == ["recursive-200-0-tokens", "recursive-512-0-tokens"]
    assert results["nDCG@10"].between(0, 1).all() and results["recall@10"].between(0, 1).all()
    assert results["nDCG@10"].nunique() == 2  # passage judgments tell the settings apart
    assert len(at.get("plotly_chart")) == 1
    assert any((scratch / "sweeps" / "results").glob("*.json"))
    # A changed grid asks for a new run; a bad one says why.
    at.multiselect(key="sweep_overlaps").set_value([0, 64]).run()
    assert any("Run sweep" in i for i in texts(at.info))
    at.multiselect(key="sweep_methods").set_value([])
    at.checkbox(key="sweep_whole").uncheck().run()
    assert any("grid is empty" in e for e in texts(at.error))
    assert not at.exception


def test_duplicates_page_on_the_samples(app_env, monkeypatch):
    import core.duplicates

    scans = []

    def counted(collection, threshold, *args, **kwargs):
        scans.append(threshold)
        return real(collection, threshold, *args, **kwargs)

    real = core.duplicates.find_duplicates
    monkeypatch.setattr(core.duplicates, "find_duplicates", counted)
    at = finish_jobs(open_page("views/duplicates.py"))
    assert not at.exception and not at.error
    assert int(next(m.value for m in at.metric if m.label == "Chunks scanned")) > 100
    strict = int(next(m.value for m in at.metric if m.label == "Pairs"))
    at.slider(key="dup_threshold").set_value(0.85).run()  # the spec excerpt has look-alike examples
    assert not at.exception and not at.error
    pairs = int(next(m.value for m in at.metric if m.label == "Pairs"))
    assert pairs > 1 and pairs >= strict
    # One scan at the slider's lowest value (none when an earlier test left it cached); moving it only filters.
    assert scans in ([], [0.80])
    groups, listed = at.dataframe[0].value, at.dataframe[1].value
    assert len(listed) == pairs and listed["similarity"].between(0.85, 1).all()
    assert groups["chunks"].sum() >= len(groups) * 2
    at.selectbox(key="dup_pair").set_value(2).run()
    assert not at.exception
    sides = [h.value for h in at.html]
    assert len(sides) == 2 and all('<span class="term"' in side for side in sides)  # the differing words
    assert all("<script" not in side for side in sides)


def test_compare_page_against_bag_of_words(app_env, scratch):
    at = finish_jobs(open_page("views/compare.py"))
    assert not at.exception and not at.error, texts(at.error)
    assert at.selectbox(key="compare_model").value.name == "bow-hash"
    overlap = float(next(m.value for m in at.metric if m.label.startswith("Mean neighbour overlap")))
    chance = float(next(m.value for m in at.metric if m.label == "By chance"))
    assert chance < overlap <= 1
    assert len(at.get("plotly_chart")) == 2
    assert sum(m.label.startswith("Suspect documents: ") for m in at.metric) == 2  # the label check, both models
    lowest = at.dataframe[0].value
    assert len(lowest) == 20 and lowest["overlap"].is_monotonic_increasing
    at.radio(key="compare_colour").set_value("neighbour overlap")
    finish_jobs(at.number_input(key="compare_k").set_value(5).run())
    assert not at.exception and not at.error
    assert any(m.label == "Mean neighbour overlap (Jaccard@5)" for m in at.metric)
    assert list((scratch / "compare").glob("bow-hash-*.npy"))


def test_a_sweep_goes_on_while_the_visitor_is_on_another_page(app_env, scratch, monkeypatch):
    """Run, pressed again, left for another page and back: one background job, never restarted; its bar shows
    from the click and again on return, its scores once done, and again on a later visit without a new sweep."""
    import threading

    import core.sweep

    release, runs = threading.Event(), []
    real = core.sweep.run_sweep

    def held(*args, **kwargs):  # the real sweep, once the test lets it go
        runs.append(args[4])
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(core.sweep, "run_sweep", held)
    try:
        at = finish_jobs(open_page("views/sweep.py"))
        at.number_input(key="sweep_chars").set_value(20_000)
        at.multiselect(key="sweep_sizes").set_value([200])
        at.selectbox(key="sweep_model").set_value("bow-hash").run()
        at.button(key="sweep_run").click().run()
        job = at.session_state["_jobs"]["sweep"]
        assert job.running and at.get("progress")  # the bar from the first moment
        at.button(key="sweep_run").click().run()  # a second click while it runs starts nothing
        assert at.session_state["_jobs"]["sweep"] is job
        at.switch_page("views/search.py").run()
        at.switch_page("views/sweep.py").run()
        assert at.multiselect(key="sweep_sizes").value == [200] and at.selectbox(key="sweep_model").value == "bow-hash"
        assert at.session_state["_jobs"]["sweep"] is job and job.running and at.get("progress")
    finally:
        release.set()
    finish_jobs(at)
    assert not at.error, texts(at.error)
    assert list(at.dataframe[-1].value["setting"]) == ["recursive-200-0-tokens"]
    at.switch_page("views/search.py").run()
    at.switch_page("views/sweep.py").run()  # a later visit: the scores, not a new sweep
    assert list(at.dataframe[-1].value["setting"]) == ["recursive-200-0-tokens"]
    assert len(runs) == 1 and not at.session_state["_jobs"]


def test_the_sweep_questions_keep_their_edits_when_the_visitor_leaves_and_returns(app_env, scratch):
    """An edited question and an added one are there again after a visit to another page (Streamlit forgets an
    editor's edits once a run does not draw it), and edits made after the return apply on top of them."""
    at = open_page("views/sweep.py")
    original = at.dataframe[0].value
    at.session_state["sweep_table"] = {"edited_rows": {0: {"question": "Who is Mr Darcy's friend?"}},
                                       "added_rows": [{"question": "What is a tab stop?",
                                                       "expected_source": original["expected_source"].iloc[-1]}],
                                       "deleted_rows": []}
    finish_jobs(at.run())  # the tokens are counted in the background
    assert any(f"{len(original) + 1} question(s)" in c for c in texts(at.caption)), texts(at.caption)
    at.switch_page("views/search.py").run()
    at.switch_page("views/sweep.py").run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value  # the editor's starting table on this visit: the edits made before
    assert table["question"].iloc[0] == "Who is Mr Darcy's friend?" and table["question"].iloc[-1] == "What is a tab stop?"
    assert list(table["question"].iloc[1:-1]) == list(original["question"].iloc[1:])
    assert any(f"{len(original) + 1} question(s)" in c for c in texts(at.caption))
    at.session_state["sweep_table"] = {"edited_rows": {}, "added_rows": [], "deleted_rows": [1]}
    at.run()
    assert any(f"{len(original)} question(s)" in c for c in texts(at.caption)), texts(at.caption)


def test_a_benchmark_subset_is_cut_in_the_background(app_env, scratch, monkeypatch):
    """Cutting a BEIR subset (a pass over the whole corpus) is a background job: its bar shows from the first run
    and again after a visit to another page, and then the page goes on with the subset, its tokens counted."""
    import threading

    import core.sweep
    from conftest import SCIFACT

    release, cuts = threading.Event(), []
    real = core.sweep.beir_subset

    def held(*args, **kwargs):
        cuts.append(args[1:4])
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(core.sweep, "beir_subset", held)
    try:
        at = open_page("views/sweep.py")
        at.radio(key="sweep_source").set_value("BEIR benchmark folder").run()
        at.text_input(key="sweep_split").set_value("train")
        at.number_input(key="sweep_max_queries").set_value(10)
        at.number_input(key="sweep_max_docs").set_value(40)
        at.text_input(key="sweep_beir").set_value(str(SCIFACT)).run()
        job = at.session_state["_jobs"]["sweep_subset"]
        assert job.running and at.get("progress") and not at.error
        at.switch_page("views/search.py").run()
        at.switch_page("views/sweep.py").run()
        assert at.text_input(key="sweep_beir").value == str(SCIFACT)
        assert at.session_state["_jobs"]["sweep_subset"] is job and job.running and at.get("progress")
    finally:
        release.set()
    finish_jobs(at)
    assert not at.exception and not at.error, texts(at.error)
    assert any("40 document(s), 10 question(s)" in c for c in texts(at.caption)), texts(at.caption)
    assert any("tokens for" in c for c in texts(at.caption) + texts(at.warning))
    assert cuts == [("train", 10, 40)]
    finish_jobs(at.text_input(key="sweep_beir").set_value(str(SCIFACT / "missing")).run())  # the job's error, in words
    assert not at.exception and any("is not a folder" in e for e in texts(at.error)), texts(at.error)
