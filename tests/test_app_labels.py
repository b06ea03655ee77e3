"""The Labels & clusters page under AppTest on a real store with injected label flips."""
from __future__ import annotations

import pytest

from app_pages import finish_jobs, open_page
from core.label_edits import LabelEdits, Target
from core.labels import document_names
from core.projection import load_points
from core.workspace import open_workspace
from label_fixtures import labelled_store, labels_dir  # noqa: F401  (fixtures)
from map_fixtures import sample_points  # noqa: F401  (fixture)


def open_labels(store: str, collection: str):
    at = open_page("views/labels.py")
    next(s for s in at.sidebar.selectbox if s.label == "Collection").set_value(collection).run()
    return finish_jobs(at)  # the check is a background job of the session


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_the_page_lists_the_flips_and_the_next_check_uses_a_fix(labelled_store, labels_dir,
                                                                monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EXPLORER_STORE", labelled_store.store)
    at = open_labels(labelled_store.store, labelled_store.noisy)
    assert metric(at, "Labels") == "3"
    flagged = int(metric(at, "Suspect documents"))
    suspects = next(d.value for d in at.dataframe if "suggested" in d.value.columns)
    assert set(labelled_store.flipped) <= set(suspects["document"])
    assert list(suspects["document"][:3]) and set(suspects["document"][:3]) == set(labelled_store.flipped)
    assert any("Which labels bleed" in s.value for s in at.subheader)
    # A fix made in the overlay (as the page's buttons make it) is used by the next check.
    document, (truth, given) = next(iter(labelled_store.flipped.items()))
    points = load_points(open_workspace(labelled_store.store, labelled_store.noisy).collection)
    documents = document_names(points.chunks.metadatas)
    LabelEdits(labelled_store.store, labelled_store.noisy).set_label(
        "category", [Target(points.chunks.ids[documents.index(document)], document, given)], truth)
    finish_jobs(at.run())
    assert int(metric(at, "Suspect documents")) == flagged - 1
    assert any("version 1" in e.label for e in at.expander)


def test_a_collection_whose_documents_each_carry_their_own_label(app_env):
    """The samples: one document per category, so the check says nothing can judge them (and no traceback)."""
    at = finish_jobs(open_page("views/labels.py"))
    assert metric(at, "Suspect documents") == "0"
    assert any("nothing can judge them" in c.value for c in at.caption)
