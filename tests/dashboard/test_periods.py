"""Partial periods: the current day, week and month, and periods cut by the range, under an injected clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from blindai_telemetry.dashboard.filters import Filters, Granularity
from blindai_telemetry.dashboard.periods import partial_periods, period_end, period_start

#: Wednesday, 2026-12-02, 10:30 UTC.
NOW = datetime(2026, 12, 2, 10, 30, tzinfo=timezone.utc)


def clock(at: datetime = NOW) -> Callable[[], datetime]:
    return lambda: at


@pytest.mark.parametrize(("granularity", "expected"), [
    ("day", ["2026-12-02"]), ("week", ["2026-11-30"]), ("month", ["2026-12-01"])])
def test_the_period_holding_now_is_partial(granularity: Granularity, expected: list[str]) -> None:
    assert partial_periods(Filters(granularity=granularity), clock()) == expected


def test_a_range_that_ends_before_today_on_whole_periods_has_none() -> None:
    f = Filters(start=date(2026, 11, 2), end=date(2026, 11, 29), granularity="week")  # Monday to Sunday
    assert partial_periods(f, clock()) == []
    assert partial_periods(Filters(start=date(2026, 11, 1), end=date(2026, 11, 30), granularity="month"),
                           clock()) == []


def test_periods_cut_by_the_range_are_partial_too() -> None:
    # From a Wednesday to a Tuesday: both weeks at the edges hold only part of their days.
    f = Filters(start=date(2026, 11, 4), end=date(2026, 11, 24), granularity="week")
    assert partial_periods(f, clock()) == ["2026-11-02", "2026-11-23"]
    # The page's default: the last 90 days up to today, by month: the first month is cut, the last unfinished.
    f = Filters(start=NOW.date() - timedelta(days=89), end=NOW.date(), granularity="month")
    assert partial_periods(f, clock()) == ["2026-09-01", "2026-12-01"]


def test_a_day_is_complete_from_midnight_utc_on() -> None:
    f = Filters(end=date(2026, 12, 1))
    assert partial_periods(f, clock(datetime(2026, 12, 1, 23, 59, 59, tzinfo=timezone.utc))) == ["2026-12-01"]
    assert partial_periods(f, clock(datetime(2026, 12, 2, 0, 0, tzinfo=timezone.utc))) == []


def test_the_clock_is_read_in_utc() -> None:
    # 01:00 on December 2 in UTC+2 is still December 1 in UTC.
    at = datetime(2026, 12, 2, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert partial_periods(Filters(), clock(at)) == ["2026-12-01"]


@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_period_bounds_tile_the_calendar(granularity: Granularity) -> None:
    day = date(2024, 1, 1)
    while day < date(2025, 1, 1):
        first = period_start(granularity, day)
        assert first <= day < period_end(granularity, first)
        assert period_start(granularity, period_end(granularity, first)) == period_end(granularity, first)
        day += timedelta(days=1)


@pytest.mark.parametrize("panel", ["active_installs", "events", "modes", "versions", "performance"])
def test_every_time_series_answer_lists_its_partial_periods(get: Callable[..., Any], panel: str) -> None:
    body = get(f"/api/v1/{panel}", granularity="week")
    today = datetime.now(timezone.utc).date()
    assert body["partial_periods"] == [period_start("week", today).isoformat()]
    # The fixture fleet lies in January 2026, all complete: no row of it is partial.
    assert body["rows"] and not {r[0] for r in body["rows"]} & set(body["partial_periods"])
    assert get(f"/api/v1/{panel}", **{"from": "2026-01-05", "to": "2026-01-31"})["partial_periods"] == []


def test_panels_that_are_not_time_series_carry_no_partial_periods(get: Callable[..., Any]) -> None:
    assert "partial_periods" not in get("/api/v1/platforms")
    assert get("/api/v1/performance", by="version")["partial_periods"] == []
