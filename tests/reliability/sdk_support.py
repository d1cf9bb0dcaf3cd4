"""The SDK fault matrix for the reliability tests. It lives in `benchmarks/faults`, shared by
`test_sdk_faults.py` (which asserts the behaviour) and `python -m benchmarks.faults` (which prints the figures);
the repository is put on sys.path first, as `benchmarks` is not an installed package."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks.faults import endpoints, matrix  # noqa: E402 - importable only once the repository is on sys.path

__all__ = ["endpoints", "matrix"]
