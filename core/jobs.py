"""Work that outlives the page that started it: one task on a thread, its latest progress, its outcome.

A Streamlit page that runs an import inline loses it when the visitor opens another page (the
script run is stopped). A `Job` runs the task on its own thread instead; the session keeps the
job, so any page can show its progress again and read its result when it is done. The task
reports through the usual ProgressCallback; nothing here knows about Streamlit. `Results` keeps what
finished jobs worked out, by what they were started for, so the same work asked again is not run again.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

from .errors import ExplorerError
from .types import ProgressCallback, ProgressEvent

log = logging.getLogger(__name__)

Task = Callable[[ProgressCallback], Any]


@dataclass
class Job:
    """A task running on a thread: `progress` is its latest event, then `result` or `error` once done."""

    label: str
    inputs: Hashable = None  # what it was started for: a page tells whether its outcome is the one it wants
    started: float = field(default_factory=time.monotonic)
    progress: ProgressEvent | None = None
    result: Any = None
    error: str | None = None
    finished: float | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the task ends (or `timeout` seconds); True when it has ended."""
        return self._done.wait(timeout)

    def fraction(self) -> float:
        event = self.progress
        return min(event.done / event.total, 1.0) if event and event.total else 0.0

    def status(self) -> str:
        """One line: what it is doing, done/total, and how long it has run."""
        elapsed = (self.finished or time.monotonic()) - self.started
        event = self.progress
        if event is None:
            return f"{self.label}: under way ({elapsed:.0f} s)"  # a task that reports no steps still shows time pass
        count = f"{event.done:,}/{event.total:,}" if event.total else f"{event.done:,}"
        return f"{self.label}: {event.stage} {count} {event.detail} ({elapsed:.0f} s)".replace("  ", " ")


def start_job(label: str, task: Task, inputs: Hashable = None) -> Job:
    """Run `task(progress)` on a daemon thread now; returns the Job that watches it. An ExplorerError
    becomes the job's `error` as it reads; anything else is logged and reported as a failure."""
    job = Job(label, inputs)

    def report(event: ProgressEvent) -> None:
        job.progress = event

    def run() -> None:
        try:
            job.result = task(report)
        except ExplorerError as exc:
            job.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a thread's failure must reach the page, not vanish
            log.exception("%s failed", label)
            job.error = f"{label} failed: {type(exc).__name__}: {exc}"
        finally:
            job.finished = time.monotonic()
            job._done.set()

    threading.Thread(target=run, name=f"job: {label}", daemon=True).start()
    return job


class Results:
    """Results of finished jobs by kind and inputs, the newest `per_kind` of each kind: a job's thread puts
    its result, any later run (another page visit, another session) finds it instead of running it again."""

    def __init__(self, per_kind: int = 4) -> None:
        self.per_kind = per_kind
        self._kinds: dict[str, OrderedDict[Hashable, Any]] = {}
        self._lock = threading.Lock()

    def get(self, kind: str, inputs: Hashable) -> Any:
        """The result kept for `inputs`, or None."""
        with self._lock:
            kept = self._kinds.get(kind, OrderedDict())
            if inputs not in kept:
                return None
            kept.move_to_end(inputs)
            return kept[inputs]

    def put(self, kind: str, inputs: Hashable, result: Any) -> None:
        with self._lock:
            kept = self._kinds.setdefault(kind, OrderedDict())
            kept[inputs] = result
            kept.move_to_end(inputs)
            while len(kept) > self.per_kind:
                kept.popitem(last=False)
