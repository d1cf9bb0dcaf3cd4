"""The exact aggregates behind the public report, from a store with SQL (DuckDB or ClickHouse).

Only counts of distinct installs per closed-vocabulary value or version, per complete week, and latency
percentiles per mode leave this module: never an id. These exact figures are for the operator's process (or an
admin-token request to the collector, `publish.api`); `disclosure` decides what of them is published.

Each install counts once per table, under the value it reported last in the period (as the dashboard's
platforms panel does), so one install moves any one count by at most 1 — what the noise is calibrated for.
CI runs are left out: the report is about real use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from blindai_telemetry.dashboard.filters import Dialect
from blindai_telemetry.stores.base import Store

#: The tables of report.json, each from one column of the per-install latest values.
TABLES = ("server_versions", "client_versions", "modes", "os", "arch")
REQUEST_EVENTS = ("model_run", "model_uploaded")


@dataclass(frozen=True)
class LatencyCell:
    """Percentiles of successful requests' duration_ms of one event in one mode, and how many installs sent them."""

    mode: str
    event: str
    installs: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass
class Aggregates:
    """Exact figures of one period (UTC days, both inclusive)."""

    start: date
    end: date
    installs: int = 0
    tables: dict[str, dict[str, int]] = field(default_factory=lambda: {t: {} for t in TABLES})
    #: Monday (ISO date) of each complete week inside the period -> distinct installs active that week.
    weekly: dict[str, int] = field(default_factory=dict)
    latency: list[LatencyCell] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(start=self.start.isoformat(), end=self.end.isoformat())
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Aggregates:
        """The aggregates as `as_dict` (and the collector's endpoint) wrote them; KeyError/ValueError if not."""
        tables = {t: {str(v): int(n) for v, n in data["tables"][t].items()} for t in TABLES}
        return cls(date.fromisoformat(data["start"]), date.fromisoformat(data["end"]), int(data["installs"]),
                   tables, {str(w): int(n) for w, n in data["weekly"].items()},
                   [LatencyCell(str(c["mode"]), str(c["event"]), int(c["installs"]), float(c["p50_ms"]),
                                float(c["p95_ms"]), float(c["p99_ms"])) for c in data["latency"]])


def period(days: int, today: date, until: date | None = None) -> tuple[date, date]:
    """`days` UTC days ending on `until` (default: yesterday). Today is not over: a period never includes it
    (ValueError if `until` is today or later)."""
    end = today - timedelta(days=1) if until is None else until
    if end >= today:
        raise ValueError(f"the period must end before today ({today}): a day still going on is never published")
    return end - timedelta(days=days - 1), end


def complete_weeks(start: date, end: date) -> list[date]:
    """Mondays of the weeks lying wholly inside [start, end]."""
    first = start + timedelta(days=-start.weekday() % 7)
    return [first + timedelta(weeks=i) for i in range(((end - first).days + 1) // 7)]


def gather(store: Store, start: date, end: date) -> Aggregates:
    """The exact aggregates of [start, end] from `store` (StoreError if it fails, ValueError if it has no SQL)."""
    if store.dialect is None:
        raise ValueError(f"{type(store).__name__} has no SQL: publish needs a DuckDB or ClickHouse store")
    d = Dialect(store.dialect)
    out = Aggregates(start, end)
    _latest_values(store, d, out)
    weeks = complete_weeks(start, end)
    if weeks:
        _weekly(store, d, out, weeks[0], weeks[-1] + timedelta(days=7))
    _latency(store, d, out)
    return out


def _where(d: Dialect, start: date, end: date, *extra: str) -> str:
    conditions = [f"time >= {d.literal(datetime.combine(start, time()))}",
                  f"time < {d.literal(datetime.combine(end + timedelta(days=1), time()))}",
                  "coalesce(is_ci, false) = false", *extra]
    return "WHERE " + " AND ".join(conditions)


def _id(d: Dialect, column: str) -> str:
    """An install id as the queries group it. DuckDB groups its 64-bit hash: the grouping costs half as much as
    on the 36-character text (the dashboard's rollup does the same). A collision (odds about 1 in 10^10 among
    50,000 installs) merges two installs into one, so it can only lower a count, never lift a cell over k."""
    return column if d.clickhouse else f"hash({column})"


def _ids(d: Dialect, start: date, end: date, own: str, client: str) -> str:
    """Every install seen in the period: by its own events, and as a client named by a server's events."""
    return f"""SELECT {_id(d, "install_id")} AS id, time, {own} FROM events {_where(d, start, end)}
               UNION ALL
               SELECT {_id(d, "client_install_id")} AS id, time, {client} FROM events
               {_where(d, start, end, "client_install_id IS NOT NULL")}"""


def _latest_values(store: Store, d: Dialect, out: Aggregates) -> None:
    null = "CAST(NULL AS Nullable(String))" if d.clickhouse else "CAST(NULL AS VARCHAR)"
    # The inner columns are named apart from the outer aliases: ClickHouse resolves an alias inside the
    # aggregate that defines it (`argMaxIf(mode, ...) AS mode` would nest the aggregate in itself).
    own = ("mode AS m, CASE WHEN mode IS NOT NULL THEN app_version END AS sv, "
           "CASE WHEN mode IS NULL THEN app_version END AS cv, os_name AS o, arch AS a")
    client = f"{null}, {null}, client_app_version, client_os_name, client_arch"
    columns = {"modes": "m", "server_versions": "sv", "client_versions": "cv", "os": "o", "arch": "a"}
    # Two steps: the last time of each distinct (install, values) first, a plain max over few columns; then each
    # install's last non-null value per column from those few rows. Half the CPU of five arg_max over every row.
    last = "argMaxIf({c}, t, {c} IS NOT NULL)" if d.clickhouse else "arg_max({c}, t) FILTER (WHERE {c} IS NOT NULL)"
    latest = ", ".join(f"{last.format(c=c)} AS {t}" for t, c in columns.items())
    parts = [f"SELECT '{t}' AS t, {t} AS value, count(*) AS n FROM per WHERE {t} IS NOT NULL GROUP BY {t}"
             for t in columns]
    sql = f"""WITH g AS (SELECT id, m, sv, cv, o, a, max(time) AS t
                         FROM ({_ids(d, out.start, out.end, own, client)}) AS ids GROUP BY id, m, sv, cv, o, a),
              per AS {d.materialized}(SELECT id, {latest} FROM g GROUP BY id)
              {" UNION ALL ".join(parts)}
              UNION ALL SELECT 'installs' AS t, '' AS value, count(*) AS n FROM per"""
    for row in store.fetch(sql):
        if row["t"] == "installs":
            out.installs = int(row["n"])
        else:
            out.tables[row["t"]][str(row["value"])] = int(row["n"])


def _weekly(store: Store, d: Dialect, out: Aggregates, first: date, stop: date) -> None:
    ids = _ids(d, max(first, out.start), min(stop - timedelta(days=1), out.end), "1 AS x", "1 AS x")
    sql = f"""SELECT {d.period("week")} AS week, count(DISTINCT id) AS n FROM ({ids}) AS ids GROUP BY week"""
    for row in store.fetch(sql):
        week = row["week"]
        out.weekly[(week.date() if isinstance(week, datetime) else week).isoformat()] = int(row["n"])


def _latency(store: Store, d: Dialect, out: Aggregates) -> None:
    events = ", ".join(f"'{e}'" for e in REQUEST_EVENTS)
    # Failed requests are left out, as on the dashboard: a refused upload returns fast and would flatter them.
    where = _where(d, out.start, out.end, "mode IS NOT NULL", f"event IN ({events})", "duration_ms IS NOT NULL",
                   "coalesce(ok, true)")
    sql = f"""SELECT mode, event, count(DISTINCT {_id(d, "install_id")}) AS installs, {d.quantiles("duration_ms")} AS q
              FROM events {where} GROUP BY mode, event ORDER BY mode, event"""
    for row in store.fetch(sql):
        q = [float(x) for x in row["q"]]
        out.latency.append(LatencyCell(str(row["mode"]), str(row["event"]), int(row["installs"]), *q))
