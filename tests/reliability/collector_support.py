"""The collector test helpers (`tests/collector/collector_helpers.py`) for the reliability suites and for
`python -m benchmarks.robustness`: that directory is not a package, so it is put on sys.path first."""

from __future__ import annotations

import sys
from pathlib import Path

_HELPERS = str(Path(__file__).resolve().parents[1] / "collector")
if _HELPERS not in sys.path:
    sys.path.insert(0, _HELPERS)

from collector_helpers import (  # noqa: E402 - importable once on sys.path
    NOW_MS,
    Collector,
    Served,
    batch,
    event,
    running,
    start_serve,
)

__all__ = ["NOW_MS", "Collector", "Served", "batch", "event", "running", "start_serve"]
