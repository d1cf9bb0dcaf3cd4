"""Installs counted under the value they reported last (platforms, hardware), over the rollup or the raw events.

On ClickHouse the rows an install's latest value can come from are read first from the range's last week: an
install that reported every attribute there is answered by those rows alone, since they are later than any
older one; only the others have their older rows read (100 M events: 4.2 M rows of the installs' own events in
90 days, 0.3 M in the last week).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from blindai_telemetry.dashboard import rollup
from blindai_telemetry.dashboard.filters import Dialect, Filters, dialect_of, where
from blindai_telemetry.stores import platform_names as names
from blindai_telemetry.stores.base import Store

Dimension = tuple[str, str, str]  # kind, column in `events`, column in the rollup
#: The days read first; a range no longer than twice this is read whole.
RECENT_DAYS = 7


def by_latest(store: Store, f: Filters, groups: Sequence[tuple[bool, Sequence[Dimension]]]) -> list[list[Any]]:
    """[kind, value, installs]: each install counted once, under the value it reported last.

    A group is (own, dimensions): `own` counts installs by their own events' `install_id`, else clients by
    `client_install_id`. Installs are grouped first (tens of thousands of groups), then each dimension is a
    count over those few rows, instead of hashing every event's id once per dimension."""
    d = dialect_of(store)
    ctes: list[str] = []
    parts: list[str] = []
    src = rollup.table_for(store)
    for i, (own, dims) in enumerate(groups):
        if src:
            # Measured: one pass per group beats one pass grouping by (own, id) with every attribute.
            latest = ", ".join(f"{src.latest(r)} AS {kind}" for kind, _, r in dims)
            attributes = sorted({r for _, _, r in dims})
            condition = "own" if own else "NOT own"
            recent = _recent_first(src, d, f, condition, attributes)
            rows = f"{src.rows(f)} {where(f, d, condition, *recent, by_day=True)}"
            if d.clickhouse and not own:
                # Each client's latest time per value first, which ClickHouse reads from install_days' projection
                # (a row per client-day, not per client-day × server version × mode): 100 M events, 1.6 -> 0.3 s.
                listed = ", ".join(attributes)
                rows = f"(SELECT id, {listed}, max(t) AS t FROM {rows} GROUP BY id, {listed})"
            per_install = f"SELECT id, {latest} FROM {rows} GROUP BY id"
        else:
            ident = "install_id" if own else "client_install_id"
            latest = ", ".join(f"{d.latest(names.sql(column))} AS {kind}" for kind, column, _ in dims)
            per_install = f"SELECT {ident}, {latest} FROM events {where(f, d, f'{ident} IS NOT NULL')} GROUP BY {ident}"
        if d.clickhouse:
            # ClickHouse runs a CTE again for each reference (no MATERIALIZED): one pass over the installs,
            # spreading each into its (dimension, value) pairs, counts every dimension at once.
            pairs = ", ".join(f"('{kind}', CAST({kind} AS Nullable(String)))" for kind, _, _ in dims)
            parts.append(f"SELECT p.1 AS kind, assumeNotNull(p.2) AS value, count() AS installs "
                         f"FROM ({per_install}) ARRAY JOIN [{pairs}] AS p WHERE p.2 IS NOT NULL GROUP BY kind, value")
            continue
        ctes.append(f"per_install_{i} AS {d.materialized}({per_install})")
        parts += [f"SELECT '{kind}' AS kind, CAST({kind} AS VARCHAR) AS value, count(*) AS installs "
                  f"FROM per_install_{i} WHERE {kind} IS NOT NULL GROUP BY {kind}" for kind, _, _ in dims]
    sql = f"{'WITH ' + ', '.join(ctes) if ctes else ''} {' UNION ALL '.join(parts)}{src.settings if src else ''}"
    return [[r["kind"], r["value"], int(r["installs"])] for r in store.fetch(sql)]


def _recent_first(src: rollup.Source, d: Dialect, f: Filters, condition: str, attributes: Sequence[str]) -> list[str]:
    """ClickHouse: the condition that keeps the range's last `RECENT_DAYS` days, and the older rows of the
    installs that did not report every attribute in them (none on DuckDB, or for a short range)."""
    end = f.end or datetime.now(timezone.utc).date()
    recent = end - timedelta(days=RECENT_DAYS - 1)
    if not d.clickhouse or (f.start is not None and f.start > recent - timedelta(days=RECENT_DAYS)):
        return []
    since = f"day >= DATE '{recent.isoformat()}'"
    complete = " AND ".join(f"count({a}) > 0" for a in attributes)
    answered = (f"SELECT id FROM {src.rows(f)} {where(f, d, condition, since, by_day=True)} "
                f"GROUP BY id HAVING {complete}")
    return [f"({since} OR id NOT IN ({answered}))"]
