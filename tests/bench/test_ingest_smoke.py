"""The ingestion benchmark's ClickHouse path really runs, at 1 s phases, so it cannot rot unnoticed.

It starts the chDB HTTP front and real collectors on `--store clickhouse://...`, one then two: checked here is
only that every step runs and reports coherent figures; how fast belongs to the benchmark itself.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_the_clickhouse_phases_run_and_print_their_rows() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks.ingest", "--quick", "--stores", "clickhouse"],
                          cwd=REPO, capture_output=True, text=True, timeout=110, check=False)
    assert done.returncode == 0, done.stderr
    figures = {m.group(1).strip(): float(m.group(2).replace(",", ""))
               for m in re.finditer(r"^(\S.{43})\s*([\d,]+\.\d\d)", done.stdout, re.MULTILINE)}
    for name in ("ClickHouse (chDB front), 1 collector, ev/s", "ClickHouse (chDB front), 2 collectors, ev/s",
                 "ClickHouse collector CPU s per 100k events", "chDB front CPU s per 100k events"):
        assert figures[name] > 0, done.stdout
    assert "sustained events/s" not in done.stdout  # --stores clickhouse runs no DuckDB phase
    statuses = re.search(r"ClickHouse 1 collector (\{.*?\}), 2 collectors (\{.*?\})", done.stdout)
    assert statuses is not None and all(set(ast.literal_eval(s)) == {200} for s in statuses.groups()), done.stdout


def test_an_unknown_store_is_refused() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks.ingest", "--stores", "sqlite"],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "--stores" in done.stderr


def test_the_cpu_phases_print_the_collector_and_the_floor_against_one_calibrator() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks.ingest", "--quick", "--stores", "cpu"],
                          cwd=REPO, capture_output=True, text=True, timeout=110, check=False)
    assert done.returncode == 0, done.stderr
    collector = re.findall(r"^(native|amplitude)\s+(\d)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s.*(\{.*\})", done.stdout,
                           re.MULTILINE)
    assert len(collector) == 4, done.stdout  # two formats at 8 and 2 connections
    for _, _, collector_us, calibrator_us, ratio, statuses in collector:
        assert set(ast.literal_eval(statuses)) == {200}, done.stdout
        assert float(ratio) == pytest.approx(float(collector_us) / float(calibrator_us), abs=0.06)
    floors = re.findall(r"^(native|amplitude)\s+(\d)\s+([\d,]+)" + r"\s+([\d.]+)" * 6 + r"$", done.stdout,
                        re.MULTILINE)
    assert len(floors) == 8, done.stdout  # each case at the collector's commit size, then at 2,000 events
    for _, _, _, decode, arrow, append, total, _, _ in floors:
        assert float(total) == pytest.approx(float(decode) + float(arrow) + float(append), abs=0.02)
        assert min(float(decode), float(arrow), float(append)) > 0
