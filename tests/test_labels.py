"""The label check on real MiniLM vectors of the samples: injected flips are found, a clean set has no
suspect, the CLI writes its CSV, edits live in the overlay and the next check uses them."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from core.cli import main
from core.errors import ExplorerError
from core.label_edits import LabelEdits, Target
from core.labels import LabelCheckError, check_labels, check_points, document_names
from core.projection import load_points
from core.workspace import open_workspace
from label_fixtures import labelled_store, labels_dir  # noqa: F401  (fixtures)
from map_fixtures import sample_points  # noqa: F401  (fixture)


def points_of(labelled, name):
    return load_points(open_workspace(labelled.store, name).collection)


def test_flipped_rows_are_the_top_suspects(labelled_store):
    report = check_points(points_of(labelled_store, labelled_store.noisy))
    top = {s.document: s for s in report.suspects[:len(labelled_store.flipped)]}
    assert set(top) == set(labelled_store.flipped)
    for document, (truth, given) in labelled_store.flipped.items():
        assert top[document].label == given and top[document].suggested == truth
        assert top[document].score > report.threshold
    assert set(labelled_store.flipped) <= {s.document for s in report.flagged}
    # The flips show in the confusion matrix: chunks whose neighbours vote for another label.
    assert np.trace(report.confusion) < report.confusion.sum()


def test_a_clean_set_has_no_suspect(labelled_store):
    report = check_points(points_of(labelled_store, labelled_store.clean))
    assert report.flagged == ()
    assert report.suspects[0].score < report.threshold
    assert len(report.labels) == 3 and all(s.agreement > 0.8 for s in report.stats)
    assert report.ari > 0.5 and report.nmi > 0.5
    assert np.trace(report.confusion) == report.confusion.sum()
    assert report.outliers[0].distance >= report.outliers[-1].distance


def test_map_agreement_and_cell_rows(sample_points):
    chunks = sample_points.chunks
    coords = chunks.embeddings[:, :2]
    values = [m["category"] for m in chunks.metadatas]
    report = check_labels(chunks.embeddings, values, [f"d{i}" for i in range(len(values))], coords)
    assert all(s.map_agreement is not None and 0 <= s.map_agreement <= 1 for s in report.stats)
    for i in range(len(report.labels)):
        for j in range(len(report.labels)):
            rows = report.cell_rows(i, j)
            assert len(rows) == report.confusion[i, j]
            assert all(values[r] == report.labels[i] for r in rows)


def test_a_label_only_one_document_carries_is_not_judged(sample_points):
    """The sample store holds three documents, one per category: nothing to judge any of them against."""
    chunks = sample_points.chunks
    report = check_labels(chunks.embeddings, [m["category"] for m in chunks.metadatas],
                          document_names(chunks.metadatas))
    assert report.suspects == () and report.unjudged == 3


def test_bad_fields_are_refused_in_words(sample_points):
    chunks = sample_points.chunks
    documents = document_names(chunks.metadatas)
    with pytest.raises(LabelCheckError, match="at least two different values of 'year'"):
        check_labels(chunks.embeddings, [None] * len(documents), documents, field="year")
    with pytest.raises(LabelCheckError, match="must match"):
        check_labels(chunks.embeddings, ["a"] * 3, documents)


def test_edits_are_versioned_and_the_next_check_uses_them(labelled_store, labels_dir):
    points = points_of(labelled_store, labelled_store.noisy)
    edits = LabelEdits(labelled_store.store, labelled_store.noisy)
    assert edits.version() == 0 and edits.export_frame("category").empty
    documents = document_names(points.chunks.metadatas)
    fixed = {}
    for document, (truth, given) in labelled_store.flipped.items():
        rows = [i for i, d in enumerate(documents) if d == document]
        fixed[document] = edits.set_label("category", [Target(points.chunks.ids[i], document, given) for i in rows],
                                          truth)
    assert sorted(fixed.values()) == [1, 2, 3]
    tagged = next(iter(labelled_store.flipped))
    row = documents.index(tagged)
    assert edits.set_tag("category", [Target(points.chunks.ids[row], tagged, None)], "checked") == 4
    assert edits.version() == 4
    frame = edits.export_frame("category")
    assert list(frame.columns) == ["id", "document", "old label", "new label", "tag"]
    assert len(frame) == len(labelled_store.flipped)
    mine = frame.set_index("document").loc[tagged]
    assert (mine["old label"], mine["new label"], mine["tag"]) == (labelled_store.flipped[tagged][1],
                                                                   labelled_store.flipped[tagged][0], "checked")
    assert labelled_store.store not in str(edits.path)  # the file is named by a hash, never the URL
    report = check_points(points, edits=edits)
    assert report.flagged == ()
    # The store itself is untouched.
    assert [m["category"] for m in points_of(labelled_store, labelled_store.noisy).chunks.metadatas] == \
           [m["category"] for m in points.chunks.metadatas]
    with pytest.raises(ExplorerError, match="empty"):
        edits.set_label("category", [Target("x", "y", None)], "  ")


def cli(*args: str, labels_dir) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "EXPLORER_LABELS_DIR": str(labels_dir)}
    return subprocess.run([sys.executable, "-m", "core", "labels", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_cli_writes_the_suspects_csv_then_fixes_and_exports(labelled_store, labels_dir, tmp_path, capsys):
    out, export = tmp_path / "suspects.csv", tmp_path / "edits.parquet"
    base = ["labels", "--store", labelled_store.store, "--collection", labelled_store.noisy]
    proc = cli(*base[1:], "--out", str(out), labels_dir=labels_dir)  # as a user runs it, in its own process
    assert proc.returncode == 0, proc.stderr
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["document", "label", "suggested", "score"]
    found = {r["document"]: (r["suggested"], r["label"]) for r in rows}
    assert all(found[d] == pair for d, pair in labelled_store.flipped.items())
    assert "suspect labels:" in proc.stdout and "ARI" in proc.stdout
    document, (truth, _) = next(iter(labelled_store.flipped.items()))
    assert main([*base, "--set-label", f"{document}={truth}", "--tag", f"{document}=fixed",
                 "--export", str(export)]) == 0
    assert pd.read_parquet(export).to_dict("records")[0]["new label"] == truth
    assert "version 1" in capsys.readouterr().out
    assert main([*base, "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert document not in {s["document"] for s in report["suspects"]}
    with out.open(encoding="utf-8") as fh:
        assert document not in {r["document"] for r in csv.DictReader(fh)}
    assert main([*base, "--set-label", "nowhere=x"]) == 1
    assert "neither a document nor a chunk id" in capsys.readouterr().err
