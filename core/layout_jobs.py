"""The preferred map layout (UMAP) computed in the background while PCA is drawn.

UMAP takes seconds at a few thousand points and minutes at a million; PCA takes seconds
(1.5-5.5 at 100,000 points, 5-10 at a million on a loaded 2-core machine). `current_layout`
answers with what can be drawn now: the wanted layout when it is in the disk cache, else PCA,
after starting (once) a background job that computes the wanted layout into that cache. The
page polls `current_layout` (or `job_status`) and draws the wanted layout when it is there; it
has PCA worked out by a job of its own (`pca`: a thread of the session, numpy's work leaves the
app's server free).

A job is a separate Python process (`python -m core.layout_jobs`), niced: numba code
in UMAP holds the GIL, so a thread would stall the app's server for seconds at a time,
and a process survives the session that started it. Its progress is a small JSON file
beside the cache entry it will write, so every session and every process (another app
server, the CLI) sees the same job and none starts a second one. The job and the cache
are keyed by the data (`data_key`: the map points' fingerprint, read afresh whenever a
write bumps the collection's version) and the settings, like `project`'s cache itself.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from .projection import (DEFAULT_CACHE_DIR, DEFAULT_METHOD, METHOD_LABELS, Projection, ProjectionSettings, cache_path,
                         preferred_method, project, read_cached, write_cache_file)
from .types import ProgressEvent

JobState = Literal["absent", "running", "done", "failed"]
PcaLayout = Callable[[ProjectionSettings], Projection | None]  # PCA under these settings, or None while computed
_started: dict[str, subprocess.Popen] = {}  # jobs this process started, by status file: reaped when polled
_lock = threading.Lock()  # two sessions of one app asking at once start one job


@dataclass(frozen=True)
class JobStatus:
    state: JobState
    method: str = ""
    stage: str = ""
    done: int = 0
    total: int = 0
    detail: str = ""
    error: str = ""
    started: float = 0.0  # time.time() when the job began
    pid: int = 0

    @property
    def fraction(self) -> float:
        if self.state == "done":
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0

    def describe(self) -> str:
        """One line for a progress bar: what the job is doing and for how long."""
        name = METHOD_LABELS.get(self.method, self.method)
        if self.state == "failed":
            return f"The {name} map could not be computed: {self.error}"
        if self.state != "running":
            return f"The {name} map is {'ready' if self.state == 'done' else 'not started'}."
        minutes, seconds = divmod(int(time.time() - self.started), 60)
        elapsed = f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
        detail = f" ({self.detail})" if self.detail else ""
        return f"Computing the {name} map in the background: {self.stage}{detail}, {elapsed} so far."


@dataclass(frozen=True)
class Layout:
    """What to draw now: the wanted layout when ready, else the interim PCA; and the wanted one's job."""

    projection: Projection
    wanted: ProjectionSettings
    status: JobStatus

    @property
    def final(self) -> bool:
        return self.projection.settings.method == self.wanted.method


def status_path(cache_dir: Path, data_key: str, settings: ProjectionSettings, n: int) -> Path:
    return cache_path(cache_dir, data_key, settings.for_points(n)).with_suffix(".job.json")


def _alive(path: Path, pid: int) -> bool:
    process = _started.get(str(path))
    if process is not None:
        return process.poll() is None  # polling also reaps it, so it leaves no zombie behind
    try:
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def read_status(path: Path) -> JobStatus:
    """A job's status from its file; a job whose process has gone without finishing is failed."""
    try:
        status = JobStatus(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return JobStatus("absent")
    if status.state == "running" and not _alive(path, status.pid):
        return replace(status, state="failed", error="its process ended before finishing (out of memory or stopped)")
    return status


def _write_status(path: Path, status: JobStatus) -> None:
    write_cache_file(path, json.dumps(asdict(status)).encode("utf-8"))


def job_status(embeddings_count: int, settings: ProjectionSettings, *, data_key: str,
               cache_dir: Path = DEFAULT_CACHE_DIR) -> JobStatus:
    """The background job of this layout, as any session or process sees it; done when the layout is cached."""
    if read_cached(embeddings_count, settings, data_key=data_key, cache_dir=cache_dir) is not None:
        return JobStatus("done", settings.method)
    status = read_status(status_path(cache_dir, data_key, settings, embeddings_count))
    if status.state == "done":  # finished, yet no cache entry: it could not be written
        return replace(status, state="failed", error=f"its result could not be saved in {cache_dir} (disk full?)")
    return status


def start_layout(embeddings: np.ndarray, settings: ProjectionSettings, *, data_key: str,
                 cache_dir: Path = DEFAULT_CACHE_DIR, retry: bool = False) -> JobStatus:
    """Start the background job computing this layout into the cache, unless it is cached, running, or failed
    (a failed job starts again only with `retry`). Returns its status."""
    settings.check()
    n = len(embeddings)
    path = status_path(cache_dir, data_key, settings, n)
    with _lock:
        status = job_status(n, settings, data_key=data_key, cache_dir=cache_dir)
        if status.state == "running" or status.state == "done" or (status.state == "failed" and not retry):
            return status
        vectors = path.with_suffix(".input.npy")
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            np.save(vectors, np.asarray(embeddings, dtype=np.float32))
            with path.with_suffix(".log").open("wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "core.layout_jobs", str(vectors), json.dumps(asdict(settings)), data_key,
                     str(cache_dir)], cwd=Path(__file__).resolve().parent.parent, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=log, start_new_session=True)
        except OSError as exc:  # a full or read-only disk: the page keeps PCA and says why
            with contextlib.suppress(OSError):  # a half-written input file, if any
                vectors.unlink()
            return JobStatus("failed", settings.method, error=f"cannot start it in {cache_dir}: {exc.strerror or exc}")
        _started[str(path)] = process
        status = JobStatus("running", settings.method, "starting", 0, 1, started=time.time(), pid=process.pid)
        _write_status(path, status)
        return status


def current_layout(embeddings: np.ndarray, settings: ProjectionSettings, *, data_key: str,
                   cache_dir: Path = DEFAULT_CACHE_DIR, pca: PcaLayout | None = None) -> Layout | None:
    """The layout to draw now. PCA is the default (UMAP) where that cannot run; any other method is read from the
    cache when there, else its background job is started (once) and PCA stands in until it is done. PCA itself
    is worked out by `pca` (a page: a background job of its own, None while it runs, and so is the answer here:
    seconds at 100,000 points), by default here and now (cached)."""
    settings.check()
    if preferred_method(len(embeddings)) == "pca" and settings.method == DEFAULT_METHOD:
        settings = replace(settings, method="pca")  # too few points for UMAP, or umap missing: PCA is the default
    status = JobStatus("done", "pca")
    if settings.method != "pca":
        ready = read_cached(len(embeddings), settings, data_key=data_key, cache_dir=cache_dir)
        if ready is not None:
            return Layout(ready, settings, JobStatus("done", settings.method))
        status = start_layout(embeddings, settings, data_key=data_key, cache_dir=cache_dir)
    linear = replace(settings, method="pca")
    drawn = pca(linear) if pca is not None else project(embeddings, linear, data_key=data_key, cache_dir=cache_dir)
    return None if drawn is None else Layout(drawn, settings, status)


def wait_for_layout(embeddings: np.ndarray, settings: ProjectionSettings, *, data_key: str,
                    cache_dir: Path = DEFAULT_CACHE_DIR, timeout: float = 3600.0, poll: float = 0.5) -> Layout:
    """`current_layout`, waited on until the job is done or failed (or `timeout` seconds pass)."""
    deadline = time.monotonic() + timeout
    while True:
        layout = current_layout(embeddings, settings, data_key=data_key, cache_dir=cache_dir)
        assert layout is not None  # PCA is worked out here
        if layout.final or layout.status.state == "failed" or time.monotonic() > deadline:
            return layout
        time.sleep(poll)


def _run(vectors_path: Path, settings: ProjectionSettings, data_key: str, cache_dir: Path) -> int:
    """The job itself, in its own process: compute into the cache, reporting progress to the status file."""
    os.nice(10)  # the app's server and its users come first
    embeddings = np.load(vectors_path)
    path = status_path(cache_dir, data_key, settings, len(embeddings))
    started = time.time()

    def report(event: ProgressEvent) -> None:
        _write_status(path, JobStatus("running", settings.method, event.stage, event.done, event.total or 0,
                                      event.detail, started=started, pid=os.getpid()))

    try:
        project(embeddings, settings, report, data_key=data_key, cache_dir=cache_dir)
    except Exception as exc:  # noqa: BLE001 - any failure is reported to the page, which keeps PCA
        _write_status(path, JobStatus("failed", settings.method, error=str(exc) or type(exc).__name__,
                                      started=started, pid=os.getpid()))
        return 1
    finally:
        vectors_path.unlink(missing_ok=True)
    _write_status(path, JobStatus("done", settings.method, "done", 1, 1, started=started, pid=os.getpid()))
    path.with_suffix(".log").unlink(missing_ok=True)  # kept only when something went wrong
    return 0


if __name__ == "__main__":
    vectors_file, settings_json, key, folder = sys.argv[1:5]
    sys.exit(_run(Path(vectors_file), ProjectionSettings(**json.loads(settings_json)), key, Path(folder)))
