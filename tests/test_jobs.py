"""core.jobs: a task on its own thread, its progress while it runs and its outcome after."""
from __future__ import annotations

import threading

from core.errors import ExplorerError
from core.jobs import start_job
from core.types import ProgressEvent


def test_a_job_reports_progress_while_it_runs_and_its_result_after():
    step, go_on = threading.Event(), threading.Event()

    def task(progress):
        progress(ProgressEvent("importing", 3, 10, "rows"))
        step.set()
        go_on.wait(10)
        return "done"

    job = start_job("Importing x", task)
    assert step.wait(10) and job.running
    assert job.fraction() == 0.3 and "importing 3/10 rows" in job.status()
    go_on.set()
    assert job.wait(10) and not job.running
    assert job.result == "done" and job.error is None


def test_a_failing_job_says_why_instead_of_vanishing():
    def refused(progress):
        raise ExplorerError("the file has no vector column")

    def broken(progress):
        raise ValueError("boom")

    first, second = start_job("Import", refused), start_job("Import", broken)
    assert first.wait(10) and second.wait(10)
    assert first.error == "the file has no vector column" and first.result is None
    assert second.error == "Import failed: ValueError: boom"


def test_results_keep_the_newest_few_of_each_kind_by_inputs():
    from core.jobs import Results

    results = Results(per_kind=2)
    results.put("sweep", ("a", 1), "first")
    results.put("sweep", ("b", 1), "second")
    results.put("compare", ("a", 1), "other kind")
    assert results.get("sweep", ("a", 1)) == "first"  # read: the newest again
    results.put("sweep", ("c", 1), "third")  # one too many: the least recently used goes
    assert results.get("sweep", ("b", 1)) is None
    assert results.get("sweep", ("a", 1)) == "first" and results.get("sweep", ("c", 1)) == "third"
    assert results.get("compare", ("a", 1)) == "other kind" and results.get("compare", ("b", 1)) is None
