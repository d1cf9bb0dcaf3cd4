"""The fault-matrix benchmark really runs (`--quick`, three of its rows), so it cannot rot unnoticed. Only that
it runs and reports coherent figures is checked; the behaviour under each fault is asserted in
tests/reliability/test_sdk_faults.py, and how fast anything is belongs to the benchmark itself."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.sdk.runner import REPO


def test_quick_fault_matrix_prints_one_row_per_fault_and_loses_nothing_uncounted() -> None:
    only = "none (healthy),down,reset mid-response"
    command = [sys.executable, "-m", "benchmarks.faults", "--quick", "--only", only]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=100, check=False)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("| fault")]
    assert [row.split("|")[1].strip() for row in rows] == only.split(",")
    for row in rows:
        cells = [c.strip() for c in row.split("|")[1:-1]]
        tracked, delivered, lost = (int(cells[i].replace(",", "")) for i in (1, 2, 4))
        dropped = int(cells[3].split()[0].replace(",", ""))
        assert lost == 0 and delivered + dropped == tracked
    assert "lost without a count: 0" in done.stdout
