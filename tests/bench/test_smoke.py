"""The benchmark really runs, at tiny sizes, so it cannot rot unnoticed: one command, every step, real processes.

Only that it runs and reports coherent figures is checked here; how fast anything is belongs to the benchmark
itself, never to a timed unit test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.sdk import scenarios
from benchmarks.sdk.runner import REPO, run_child
from benchmarks.sdk.sink import BlackHole

pytestmark = pytest.mark.slow
TINY = scenarios.PRESETS["tiny"]


def test_one_command_runs_every_in_process_step_and_saves_json(tmp_path: Path) -> None:
    """`python -m benchmarks.sdk --tiny --json PATH` measures ours, the floor and a peer, prints the table."""
    out = tmp_path / "figures.json"
    command = [sys.executable, "-m", "benchmarks.sdk", "--tiny", "--sdks", "ours,floor,otel",
               "--only", "hotpath,memory,delivery,burst", "--json", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=100, check=False)
    assert done.returncode == 0, done.stderr
    assert "| measurement" in done.stdout and "track() median" in done.stdout
    results = json.loads(out.read_text())["results"]
    for name in ("ours", "floor", "otel"):
        assert results["hotpath"][name]["median_ns"] > 0
        assert results["hotpath"][name]["calls"] > 0
        assert results["memory"][name]["rss_after"] > 0
    for name in ("ours", "otel"):
        delivery, burst = results["delivery"][name], results["burst"][name]
        assert delivery["sent"] == int(TINY.delivery_rate * TINY.delivery_seconds)
        assert delivery["lost"] == delivery["sent"] - delivery["received"]
        assert burst["sent"] == TINY.burst_events
        assert burst["silent"] == burst["lost"] - (burst["counted_drops"] or 0)
    assert "floor" not in results["delivery"]  # the floor has no transport


def test_exit_is_timed_from_the_end_of_the_work_for_every_endpoint_state() -> None:
    """Each endpoint state and way of ending yields a time (or a kill) for our SDK."""
    results = scenarios.exits(["ours"], TINY)["ours"]
    assert sorted(results) == sorted(f"{kind}/{how}" for kind in scenarios.EXIT_ENDPOINTS
                                     for how in ("return", "shutdown"))
    for run in results.values():
        assert run["killed"] or (run["seconds"] is not None and run["seconds"] >= 0)


def test_a_process_that_outlives_its_exit_limit_is_killed_and_reported_so() -> None:
    """The kill counts from the end of the work: amplitude's worker waits its 10 s flush interval at exit."""
    with BlackHole() as hole:
        run = run_child("exit", "amplitude", hole.url, ["--n", "10"], limit=60, after_done=0.5)
    assert run.done_at is not None
    assert run.killed and run.exit_seconds is None and run.returncode == -9


def test_cpu_per_event_is_measured_end_to_end_beside_its_floor() -> None:
    """Both transports report process CPU per event with nothing dropped, and the floor comes from the same events."""
    from benchmarks.sdk import cpu
    from benchmarks.sdk.sink import Sink

    with Sink() as receiver:
        results = cpu.run(receiver.url, 500, limit=60)
        assert receiver.received("ours") == cpu.WARMUP + 500  # the HTTP child's events, in another process
    for kind in ("memory", "http"):
        assert results[kind]["cpu_ns_per_event"] > 0 and results[kind]["dropped"] == {}
        assert results[kind]["flushed"] and results[kind]["sent"] == 500
    assert results["memory"]["floor_ns_per_event"] > 0
