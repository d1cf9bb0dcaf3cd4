"""The filters every panel takes (time range, app, version, mode, CI), and the SQL `WHERE` they stand for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from blindai_telemetry.catalogue import MODES
from blindai_telemetry.stores.base import Store

Granularity = Literal["day", "week", "month"]
Mode = Literal["hardware", "simulation", "dcsv3"]
assert set(MODES) == {"hardware", "simulation", "dcsv3"}  # keep the Literal in step with the catalogue

#: Apps and versions are identifiers (`blindai-server`, `0.6.3`, `1.0.0rc1+local`): anything else is refused
#: with 422 before it gets near SQL, even though values are also passed as bound parameters.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+\-]{0,99}$"
_NAME = re.compile(NAME_PATTERN)

#: The funnel's window: "uploaded and ran within N days of the first start".
MAX_WINDOW_DAYS = 90
#: Days a range may name: what both engines' timestamps hold (ClickHouse's DateTime64 ends in 2299).
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2261, 12, 31)


@dataclass(frozen=True)
class Filters:
    """What every panel is restricted to. Days are UTC; `end` is inclusive (the whole day)."""

    start: date | None = None
    end: date | None = None
    app: str | None = None
    app_version: str | None = None
    mode: Mode | None = None
    include_ci: bool = False
    granularity: Granularity = "day"
    window_days: int = 7

    def __post_init__(self) -> None:
        for name in ("app", "app_version"):
            value = getattr(self, name)
            if value is not None and not _NAME.match(value):
                raise ValueError(f"{name} must match {NAME_PATTERN}")
        for day in (self.start, self.end):
            if day is not None and not FIRST_DAY <= day <= LAST_DAY:
                raise ValueError(f"days must be between {FIRST_DAY} and {LAST_DAY}")
        if self.start and self.end and self.start > self.end:
            raise ValueError("'from' must not be after 'to'")
        if not 1 <= self.window_days <= MAX_WINDOW_DAYS:
            raise ValueError(f"window_days must be between 1 and {MAX_WINDOW_DAYS}")

    def as_dict(self) -> dict[str, Any]:
        """The filters as the API echoes them back (names as in the query string)."""
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "app": self.app,
            "app_version": self.app_version,
            "mode": self.mode,
            "include_ci": self.include_ci,
            "granularity": self.granularity,
            "window_days": self.window_days,
        }


class Dialect:
    """The few SQL spellings that differ between DuckDB and ClickHouse; everything else is shared SQL."""

    def __init__(self, name: str) -> None:
        if name not in ("duckdb", "clickhouse"):
            raise ValueError(f"no dashboard SQL for dialect {name!r}")
        self.name = name

    @property
    def clickhouse(self) -> bool:
        return self.name == "clickhouse"

    def period(self, granularity: Granularity, column: str = "time") -> str:
        """The start of the day/week (Monday)/month holding `column`, as a DATE."""
        if self.clickhouse:
            fn = {"day": "toDate", "week": "toMonday", "month": "toStartOfMonth"}[granularity]
            return f"{fn}({column})"
        return f"CAST(date_trunc('{granularity}', {column}) AS DATE)"

    def quantiles(self, column: str) -> str:
        """[p50, p95, p99] of `column`, interpolated: DuckDB's quantile_cont equals ClickHouse's
        quantilesExactInclusive (RESEARCH.md §4), not quantilesExact."""
        if self.clickhouse:
            return f"quantilesExactInclusive(0.5, 0.95, 0.99)({column})"
        return f"quantile_cont({column}, [0.5, 0.95, 0.99])"

    def day_diff(self, first: str, second: str) -> str:
        """Whole days from `first` to `second`."""
        return f"dateDiff('day', {first}, {second})" if self.clickhouse else f"date_diff('day', {first}, {second})"

    def int_div(self, a: str, b: int) -> str:
        return f"intDiv({a}, {b})" if self.clickhouse else f"({a}) // {b}"

    def log2_floor(self, column: str) -> str:
        # Integer typed in both engines, so buckets compare and sort as numbers.
        return f"toInt64(floor(log2({column})))" if self.clickhouse else f"CAST(floor(log2({column})) AS BIGINT)"

    @property
    def materialized(self) -> str:
        """Computes a CTE once although it is read twice (DuckDB); ClickHouse has no such keyword."""
        return "" if self.clickhouse else "MATERIALIZED "

    @property
    def no_final(self) -> str:
        """Ends a query whose answer duplicate rows cannot change (distinct ids, min/max times): the ClickHouse
        store reads with FINAL by default (so that a count never sees a row twice before a merge); these skip it."""
        return " SETTINGS final = 0" if self.clickhouse else ""

    def latest(self, column: str) -> str:
        """The last non-null value of `column` by time, within a GROUP BY."""
        if self.clickhouse:
            return f"argMaxIf({column}, time, {column} IS NOT NULL)"
        return f"arg_max({column}, time) FILTER (WHERE {column} IS NOT NULL)"

    def literal(self, value: str | datetime) -> str:
        """A SQL literal for a validated value (identifiers matching NAME_PATTERN, or a timestamp).

        Values are inlined rather than bound because `Store.fetch` parameters have no common placeholder
        syntax across DuckDB (`?`) and ClickHouse (`{name:Type}`); both engines' string escapes are applied.
        """
        if isinstance(value, datetime):
            text = value.strftime("%Y-%m-%d %H:%M:%S")
            return f"toDateTime64('{text}', 3, 'UTC')" if self.clickhouse else f"TIMESTAMP '{text}'"
        if self.clickhouse:
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + value.replace("'", "''") + "'"


class NoSQLError(Exception):
    """The store has no SQL (the in-memory fake), so it cannot answer this panel."""


def dialect_of(store: Store) -> Dialect:
    """The SQL dialect of the store's `fetch`; NoSQLError when it has none."""
    if store.dialect is None:
        raise NoSQLError(f"{type(store).__name__} has no SQL: only /api/v1/summary works on it; "
                         "use a DuckDB or ClickHouse store for the panels")
    return Dialect(store.dialect)


def conditions(filters: Filters, dialect: Dialect, *, by_day: bool = False, day: str = "day",
               is_ci: str = "is_ci") -> list[str]:
    """The filters as SQL conditions over `events`, or (`by_day`) over a daily rollup whose day and CI flag
    (never NULL) are the expressions `day` and `is_ci`."""
    out: list[str] = []
    if by_day:
        if filters.start is not None:
            out.append(f"{day} >= DATE '{filters.start.isoformat()}'")
        if filters.end is not None:
            out.append(f"{day} <= DATE '{filters.end.isoformat()}'")
    else:
        if filters.start is not None:
            out.append(f"time >= {dialect.literal(datetime.combine(filters.start, time()))}")
        if filters.end is not None:
            end = datetime.combine(filters.end + timedelta(days=1), time())
            out.append(f"time < {dialect.literal(end)}")
    if filters.app is not None:
        out.append(f"app = {dialect.literal(filters.app)}")
    if filters.app_version is not None:
        out.append(f"app_version = {dialect.literal(filters.app_version)}")
    if filters.mode is not None:
        out.append(f"mode = {dialect.literal(filters.mode)}")
    if not filters.include_ci:
        # NULL means "not known to be CI" (old BlindAI servers never said): counted as real use. The rollup
        # has already turned NULL into false.
        out.append(f"NOT {is_ci}" if by_day else "coalesce(is_ci, false) = false")
    return out


def where(filters: Filters, dialect: Dialect, *extra: str, by_day: bool = False, day: str = "day",
          is_ci: str = "is_ci") -> str:
    """`WHERE ...` for the filters plus `extra` conditions (already valid SQL); `by_day` and the rest as in
    `conditions`."""
    all_conditions = [*conditions(filters, dialect, by_day=by_day, day=day, is_ci=is_ci), *extra]
    return ("WHERE " + " AND ".join(all_conditions)) if all_conditions else ""
