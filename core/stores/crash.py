"""A counted crash point in every store's write path, for the crash-point tests.

`EXPLORER_CRASH_AT=N` (read here only) makes the process end at once, as `kill -9` would, at the
Nth write step it reaches: no exception, no `finally`, no flush. Unset, `write_step` costs one
lookup. Steps sit between the parts of a write that a crash could separate: a version stamp and the
rows, one page of rows and the next, a repair's delete and its rename.
"""
from __future__ import annotations

import os

CRASH_EXIT = 137  # what a shell reports for a process ended by SIGKILL
_steps = 0


def write_step() -> None:
    global _steps
    target = os.environ.get("EXPLORER_CRASH_AT")
    if not target:
        return
    _steps += 1
    if _steps == int(target):
        os._exit(CRASH_EXIT)
