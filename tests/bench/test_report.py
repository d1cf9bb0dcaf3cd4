"""The benchmark table: ratios and verdicts follow from the figures, and killed runs show as such."""

from __future__ import annotations

from typing import Any

from benchmarks.sdk import report
from benchmarks.sdk.scenarios import PRESETS

SIZES = PRESETS["tiny"]


def _hotpath(ours_ns: int, floor_ns: int, peer_ns: int) -> dict[str, dict[str, Any]]:
    figures = {"ours": ours_ns, "floor": floor_ns, "posthog": peer_ns, "segment": peer_ns * 2}
    return {name: {"median_ns": value, "p99_ns": value * 3} for name, value in figures.items()}


def _row(rows: list[report.Row], start: str) -> report.Row:
    return next(row for row in rows if row.label.startswith(start))


def test_hot_path_ratios_use_the_floor_and_the_fastest_peer() -> None:
    """ours/floor divides by the floor of the same run; best peer/ours uses the fastest peer, not any peer."""
    rows = report.build_rows({"hotpath": _hotpath(1_000, 250, 40_000)}, SIZES)
    median = _row(rows, "track() median")
    assert median.ours_over_floor == 4.0
    assert median.peer_over_ours == 40.0
    assert median.verdict == "pass"


def test_hot_path_verdict_names_each_missed_target() -> None:
    """Slower than 3 µs, more than 8× the floor and under 10× the best peer are each reported."""
    rows = report.build_rows({"hotpath": _hotpath(4_000, 250, 20_000)}, SIZES)
    verdict = _row(rows, "track() median").verdict
    assert verdict.startswith("FAIL") and "> 3 µs" in verdict and "> 8× floor" in verdict
    assert "< 10× best peer" in verdict
    assert _row(rows, "track() p99").verdict == "pass"  # 12 µs


def test_silent_burst_losses_fail_and_unreported_drops_fail() -> None:
    """A loss the SDK did not count, or a counted drop the collector never heard of, fails the burst row."""
    burst: dict[str, dict[str, Any]] = {"ours": {"lost": 10, "silent": 0, "counted_drops": 10, "reported_drops": 4},
             "posthog": {"lost": 500, "silent": 500, "counted_drops": None, "reported_drops": 0}}
    row = _row(report.build_rows({"burst": burst}, SIZES), "burst: lost without")
    assert row.verdict == "FAIL: reported 4 of 10 drops"
    assert row.fmt(row.values["posthog"]) == "500"
    burst["ours"]["silent"] = 1
    burst["ours"]["reported_drops"] = 10
    assert _row(report.build_rows({"burst": burst}, SIZES), "burst: lost without").verdict == "FAIL: silent losses"


def test_killed_exits_print_as_killed_and_fail_for_ours() -> None:
    """A process killed at the limit shows as '>N (killed)'; ours killed or over 1.5 s fails."""
    run = {"seconds": None, "killed": True, "returncode": -9}
    fast = {"seconds": 0.4, "killed": False, "returncode": 0}
    exits: dict[str, dict[str, Any]] = {"ours": {"down/return": fast, "black-holed/return": run},
                                        "segment": {"down/return": run}}
    rows = report.build_rows({"exit": exits}, SIZES)
    down = _row(rows, "exit, endpoint down, return")
    assert down.verdict == "pass" and down.fmt(down.values["segment"]) == f">{SIZES.exit_kill:g} (killed)"
    assert _row(rows, "exit, endpoint black-holed, return").verdict == "FAIL: > 1.5 s"
    assert "(killed)" in report.render(rows)


def test_only_measured_steps_get_rows() -> None:
    """A partial run (--only) prints the rows of the steps it ran, nothing else."""
    delivery: dict[str, dict[str, Any]] = {"ours": {"lost": 0}}
    rows = report.build_rows({"delivery": delivery}, SIZES)
    assert [row.label.split(" ")[0] for row in rows] == ["delivery"]


def test_a_target_without_a_figure_is_named_unchecked_not_passed() -> None:
    """With no peer measured (--sdks ours,floor), the 10× check is listed as unchecked rather than passed."""
    hotpath = {name: figures for name, figures in _hotpath(1_000, 250, 40_000).items() if name in ("ours", "floor")}
    verdict = _row(report.build_rows({"hotpath": hotpath}, SIZES), "track() median").verdict
    assert verdict == "pass (unchecked: 10× best peer)"
