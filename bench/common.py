"""What every benchmark prints about the machine, and percentiles of timings."""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Sequence

import numpy as np


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_line() -> str:
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 2**20:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"machine: {cpu_model()}, {platform.machine()}, {os.cpu_count()} cores{memory}; "
            f"Python {platform.python_version()}")


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000.0, q))
