"""Which periods of a time series are not complete yet (today, this week, this month), so no chart reads as a drop.

A period is partial when it ends after the query's moment (it is still filling: the current day, week or month,
or one in the future), or when the filters' range cuts it (a week chart from a Wednesday: its first week holds
five days of data, and would read as a drop just the same). Periods are named as the panels' `period` column
names them: the day, the week's Monday, the month's first day, UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

from blindai_telemetry.dashboard.filters import Filters, Granularity

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def period_start(granularity: Granularity, day: date) -> date:
    """The first day of the period holding `day` (as `Dialect.period` computes it in SQL)."""
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def period_end(granularity: Granularity, first: date) -> date:
    """The first day after the period that starts on `first`."""
    if granularity == "week":
        return first + timedelta(days=7)
    if granularity == "month":
        return (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first + timedelta(days=1)


def partial_periods(f: Filters, clock: Clock = utc_now) -> list[str]:
    """The periods (ISO dates, oldest first) of a time series under `f` that are not complete: `[]` when none.

    Only periods that can hold rows are listed: those of the range's first and last days and of today; a period
    is partial when it ends after now, or starts before the range's first day, or ends after its last day.
    """
    now = clock().astimezone(timezone.utc)
    today = now.date()
    g = f.granularity
    candidates = {period_start(g, day) for day in (f.start, f.end, today) if day is not None}
    out = []
    for first in sorted(candidates):
        after = period_end(g, first)
        last = after - timedelta(days=1)
        if (f.start is not None and last < f.start) or (f.end is not None and first > f.end):
            continue  # outside the range: the series has no row for it
        unfinished = datetime.combine(after, datetime.min.time(), timezone.utc) > now
        cut = (f.start is not None and first < f.start) or (f.end is not None and last > f.end)
        if unfinished or cut:
            out.append(first.isoformat())
    return out
