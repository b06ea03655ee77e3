"""core.cache_lock: one builder at a time for a cache entry; whoever waits is shown the holder's progress."""
from __future__ import annotations

import threading

from core.cache_lock import one_builder
from core.types import ProgressEvent


def test_a_second_builder_waits_shown_the_first_ones_progress(tmp_path):
    lock = tmp_path / "entry.lock"
    reported, order = [], []
    waited: list[ProgressEvent] = []

    def second() -> None:
        with one_builder(lock, waited.append):
            order.append("second")

    with one_builder(lock, reported.append) as report:
        report(ProgressEvent("embedding sentences", 256, 1000, "batch"))
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.7)  # it cannot get in while this block holds the lock
        assert thread.is_alive() and order == []
        order.append("first")
    thread.join(10)
    assert order == ["first", "second"]
    assert reported == [ProgressEvent("embedding sentences", 256, 1000, "batch")]  # the holder's own bar too
    assert waited[0] == ProgressEvent("waiting for another build: embedding sentences", 256, 1000, "batch")


def test_a_cache_folder_that_cannot_be_written_builds_without_a_lock(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    reported = []
    with one_builder(blocker / "entry.lock", reported.append) as report:
        report(ProgressEvent("embedding sentences", 1, 2))
    assert reported == [ProgressEvent("embedding sentences", 1, 2)]
