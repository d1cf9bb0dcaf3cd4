"""What the filters can choose from (apps, versions, modes, the span of the data and of the seeded history)."""

from __future__ import annotations

from typing import Any

from blindai_telemetry.dashboard import rollup
from blindai_telemetry.dashboard.filters import dialect_of as _dialect
from blindai_telemetry.dashboard.values import plain
from blindai_telemetry.stores import clickhouse_event_days
from blindai_telemetry.stores.base import Store


def seeded_days(store: Store) -> dict[str, Any]:
    """`seeded_first_day` / `seeded_last_day`: the span of the demo's synthetic history (`source = 'seed'`),
    None when nothing is seeded, so the page can shade those periods inside its charts."""
    d = _dialect(store)
    # Counted too: over no rows ClickHouse's min() of a non-Nullable column is 1970-01-01, not NULL.
    if d.clickhouse and (src := rollup.table_for(store)):  # the events' `event_days` projection
        rows = store.fetch(f"SELECT {src.event_sql('seeded')} AS n, "
                           f"toDate({clickhouse_event_days.SEEDED_FIRST}) AS first, "
                           f"toDate({clickhouse_event_days.SEEDED_LAST}) AS last FROM events{src.settings}")
    else:
        rows = store.fetch(f"SELECT count(*) AS n, {d.period('day', 'min(time)')} AS first, "
                           f"{d.period('day', 'max(time)')} AS last FROM events WHERE source = 'seed'")
    seeded = bool(rows) and int(rows[0]["n"]) > 0
    return {"seeded_first_day": plain(rows[0]["first"]) if seeded else None,
            "seeded_last_day": plain(rows[0]["last"]) if seeded else None}


def options(store: Store) -> dict[str, Any]:
    """What the filters can choose from: apps, versions and modes seen, and the time span of the data."""
    d = _dialect(store)
    # The rollup's own rows carry every event's app, version, mode and day: a scan of it instead of the events
    # (ClickHouse, 100 M events: 7.7 s from the events).
    src = rollup.table_for(store)
    if src and d.clickhouse:  # from the events' `event_days` projection
        return _options_clickhouse(store, src)
    table, own, time = (src.table, "own AND ", "day") if src else ("events", "", "time")
    rows = store.fetch(f"SELECT DISTINCT app, app_version, mode FROM {table} "
                       f"WHERE {own}app IS NOT NULL ORDER BY app, app_version{d.no_final}")
    span = store.fetch(f"SELECT {d.period('day', f'min({time})')} AS first, "
                       f"{d.period('day', f'max({time})')} AS last FROM {table}{d.no_final}")
    return {
        "apps": sorted({r["app"] for r in rows}),
        "app_versions": sorted({r["app_version"] for r in rows if r["app_version"]}),
        "modes": sorted({r["mode"] for r in rows if r["mode"]}),
        "first_day": plain(span[0]["first"]) if span else None,
        "last_day": plain(span[0]["last"]) if span else None,
    }


def _options_clickhouse(store: Store, src: rollup.Source) -> dict[str, Any]:
    rows = store.fetch(f"SELECT app, app_version, mode, {src.event_sql('count')} AS n FROM events "
                       f"WHERE app IS NOT NULL GROUP BY app, app_version, mode{src.settings}")
    (span,) = store.fetch(f"SELECT {src.event_sql('count')} AS n, toDate({src.event_sql('first')}) AS first, "
                          f"toDate({src.event_sql('last')}) AS last FROM events{src.settings}")
    return {
        "apps": sorted({r["app"] for r in rows}),
        "app_versions": sorted({r["app_version"] for r in rows if r["app_version"]}),
        "modes": sorted({r["mode"] for r in rows if r["mode"]}),
        "first_day": plain(span["first"]) if span["n"] else None,
        "last_day": plain(span["last"]) if span["n"] else None,
    }
