"""The performance panel's SQL: per key and event, a histogram of the successful requests' durations
(`stores.durations`), from the rollups (DuckDB's `duration_days`, ClickHouse's `event_days` projection) or from
the events; `queries.performance` turns it into percentiles, the same arithmetic whichever the source."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from blindai_telemetry.dashboard import rollup
from blindai_telemetry.dashboard.filters import Dialect, Filters, where
from blindai_telemetry.stores import clickhouse_event_days, durations
from blindai_telemetry.stores.base import Store

PerformanceBy = Literal["time", "version", "mode"]
REQUESTS = "event IN ('model_uploaded', 'model_run')"


def histograms_sql(store: Store, d: Dialect, f: Filters, by: PerformanceBy) -> str:
    """Per key and event, the histogram of successful requests' durations (`stores.durations`): as a map
    (ClickHouse) or as lists of buckets and counts (DuckDB), from the rollups or the events."""
    src = rollup.table_for(store)
    day = src.day if src else "time"
    key = {"time": d.period(f.granularity, day), "version": "app_version", "mode": "mode"}[by]
    if d.clickhouse:  # with the rollup, ClickHouse reads the `event_days` projection; without, the events FINAL
        condition = where(f, d, REQUESTS, by_day=True, day=src.day, is_ci=src.is_ci) if src else where(f, d, REQUESTS)
        return f"""SELECT {key} AS key, event, {clickhouse_event_days.DURATIONS} AS h FROM events {condition}
                   GROUP BY key, event ORDER BY key, event{src.settings if src else ""}"""
    if src:
        counts = f"""SELECT {key} AS key, event, b, sum(n) AS n FROM {rollup.DURATION_DAYS}
                     {where(f, d, by_day=True, day=src.day, is_ci=src.is_ci)} GROUP BY ALL"""
    else:
        counts = f"""SELECT {key} AS key, event, {durations.bucket("duration_ms", d.name)} AS b, count(*) AS n
                     FROM events {where(f, d, REQUESTS, clickhouse_event_days.TIMED)} GROUP BY ALL"""
    return f"""SELECT key, event, list(b ORDER BY b) AS buckets, list(n ORDER BY b) AS counts FROM ({counts}) AS c
               GROUP BY key, event ORDER BY key, event"""


def histograms(store: Store, d: Dialect, f: Filters,
               by: PerformanceBy) -> Iterator[tuple[Any, str, list[int], list[int]]]:
    """(key, event, buckets ascending, their counts) per key and event, in key order."""
    for row in store.fetch(histograms_sql(store, d, f, by)):
        if "h" in row:  # ClickHouse's map
            buckets = sorted(row["h"])
            yield row["key"], row["event"], buckets, [int(row["h"][b]) for b in buckets]
        else:
            yield row["key"], row["event"], list(row["buckets"]), [int(n) for n in row["counts"]]
