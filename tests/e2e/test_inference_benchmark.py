"""`python -m benchmarks.inference` keeps working: a tiny run through the real collector and four servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_benchmark_runs_and_prints_every_configuration() -> None:
    result = subprocess.run([sys.executable, "-m", "benchmarks.inference", "--requests", "20", "--warmup", "2",
                             "--repeats", "1"], cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    for name in ("off", "on", "blackholed", "off-control"):
        assert any(line.startswith(name + " ") for line in lines), result.stdout
    # the `on` server delivered its events (20 runs + 2 warm-up + upload + start + stop); the others sent none
    assert "the collector stored 25 events from 1 install(s)" in result.stdout
