"""One query per dashboard panel, over any `Store` with SQL (DuckDB or ClickHouse), returning plain tables.

Each function takes the store and the `Filters` and returns a `Table` (column names + rows of JSON-ready
values). The page, the `/api/v1/...` endpoints, the CSV export and `blindai-telemetry report` all use these
functions, so every place shows the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from blindai_telemetry.dashboard import funnel_sql, latest_sql, performance_sql, rollup
from blindai_telemetry.dashboard.filters import Dialect, Filters, where
from blindai_telemetry.dashboard.filters import NoSQLError as NoSQLError
from blindai_telemetry.dashboard.filters import dialect_of as _dialect
from blindai_telemetry.dashboard.options import options as options
from blindai_telemetry.dashboard.options import seeded_days as seeded_days
from blindai_telemetry.dashboard.performance_sql import PerformanceBy as PerformanceBy
from blindai_telemetry.dashboard.values import plain as plain
from blindai_telemetry.stores import clickhouse_event_days, durations
from blindai_telemetry.stores.base import Store

#: A server is whatever reports a mode: the catalogue makes `mode` server-only, and old BlindAI servers
#: report it too (sgx_mode), while clients never do.
IS_SERVER = "mode IS NOT NULL"
REQUESTS = "event IN ('model_uploaded', 'model_run')"


@dataclass
class Table:
    """A panel's answer: column names and rows of JSON-ready values (what the table view and CSV show)."""

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def _fetch(store: Store, sql: str, columns: Sequence[str]) -> list[list[Any]]:
    return [[plain(row[c]) for c in columns] for row in store.fetch(sql)]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def seeded_count(store: Store) -> int:
    """Events written by the demo as synthetic history (`source = 'seed'`), so the page can say so."""
    if store.dialect is not None:
        rows = store.fetch("SELECT count(*) AS n FROM events WHERE source = 'seed'")
        return int(rows[0]["n"]) if rows else 0
    # A store without SQL is the in-memory fake: small by construction, so reading its rows is cheap.
    total = int(store.summary().get("events", 0))
    return sum(1 for row in store.rows(limit=max(total, 1)) if row.get("source") == "seed")


def summary(store: Store) -> dict[str, Any]:
    """Totals over all stored data, CI included: `events`, `installs`, `servers`, `clients`, `seeded`, and
    `first_time_ms` / `last_time_ms` when there are events — the store's `summary()` plus `seeded_count`.

    The distinct installs come from the rollup (over DuckDB, brought up to date first so that the figures are
    those of this moment): counting distinct ids over the raw events took 375 ms at 10 M events, the rollup's
    bit sets a few ms. The rest (counts, first and last time) is cheap on the events."""
    src = rollup.table_for(store, now=True)
    if src is None:
        out: dict[str, Any] = dict(store.summary())
        out.setdefault("seeded", seeded_count(store))
        return out
    if src.dialect == "clickhouse":  # from the events' `event_days` projection (stores.clickhouse_event_days)
        events = f"""SELECT {src.event_sql("count")} AS events, {src.event_sql("seeded")} AS seeded,
                            toUnixTimestamp64Milli({src.event_sql("first")}) AS first_time_ms,
                            toUnixTimestamp64Milli({src.event_sql("last")}) AS last_time_ms FROM events"""
    else:
        events = """SELECT count(*) AS events, count(*) FILTER (WHERE source = 'seed') AS seeded,
                           epoch_ms(min(time)) AS first_time_ms, epoch_ms(max(time)) AS last_time_ms FROM events"""
    row = store.fetch(f"""
        WITH e AS ({events}),
        r AS (SELECT {src.distinct_ids("own")} AS installs, {src.distinct_ids("role = 'server'")} AS servers,
                     {src.distinct_ids("NOT own")} AS clients FROM {src.rows(Filters())})
        SELECT * FROM e, r{src.settings}""")[0]
    keys = ("events", "installs", "servers", "clients", "seeded")
    out = {k: int(row[k]) for k in keys}
    if out["events"]:
        out.update(first_time_ms=int(row["first_time_ms"]), last_time_ms=int(row["last_time_ms"]))
    return out


# --- panels -------------------------------------------------------------------------------------------------


def active_installs(store: Store, f: Filters) -> Table:
    d = _dialect(store)
    # A client is an install that sends as a client, or one named by a server's event (client_install_id):
    # clients of servers that report for them are counted too.
    src = rollup.table_for(store)
    if src and d.clickhouse:
        # uniqExact per role, not uniqExactIf: ClickHouse then merges install_days' `distinct_ids` states.
        sql = f"""SELECT period, sumIf(n, role = 'server') AS servers, sumIf(n, role = 'client') AS clients FROM (
                      SELECT {d.period(f.granularity, "day")} AS period, role, {src.distinct_ids()} AS n
                      FROM {src.table} {where(f, d, by_day=True)} GROUP BY period, role) AS r
                  GROUP BY period ORDER BY period{src.settings}"""
    elif src:
        sql = f"""SELECT {d.period(f.granularity, "day")} AS period,
                         {src.distinct_ids("role = 'server'")} AS servers,
                         {src.distinct_ids("role = 'client'")} AS clients
                  FROM {src.rows(f)} {where(f, d, by_day=True)} GROUP BY period ORDER BY period{src.settings}"""
    else:
        # Distinct (period, id) pairs first, then a plain count: cheaper than count(DISTINCT) per group.
        p = d.period(f.granularity)
        sql = f"""
            WITH pairs AS (SELECT DISTINCT period, server, id FROM (
                SELECT {p} AS period, CASE WHEN {IS_SERVER} THEN 1 ELSE 0 END AS server, install_id AS id
                FROM events {where(f, d)}
                UNION ALL
                SELECT {p} AS period, 0 AS server, client_install_id AS id FROM events
                {where(f, d, "client_install_id IS NOT NULL")}) AS ids)
            SELECT period, sum(server) AS servers, sum(1 - server) AS clients
            FROM pairs GROUP BY period ORDER BY period"""
    rows = [[plain(r["period"]), int(r["servers"]), int(r["clients"])] for r in store.fetch(sql)]
    return Table(["period", "servers", "clients"], rows)


def _by_day(src: rollup.Source, f: Filters, d: Dialect, *extra: str) -> str:
    """`WHERE ...` over the per-day event counts (`Source.events`)."""
    return where(f, d, *extra, by_day=True, day=src.day, is_ci=src.is_ci)


def events_over_time(store: Store, f: Filters) -> Table:
    d = _dialect(store)
    if src := rollup.table_for(store):
        sql = f"""SELECT {d.period(f.granularity, src.day)} AS period, event, {src.event_sql("count")} AS events
                  FROM {src.events} {_by_day(src, f, d)} GROUP BY period, event ORDER BY period, event{src.settings}"""
    else:
        sql = f"""SELECT {d.period(f.granularity)} AS period, event, count(*) AS events FROM events {where(f, d)}
                  GROUP BY period, event ORDER BY period, event"""
    columns = ["period", "event", "events"]
    return Table(columns, _fetch(store, sql, columns))


def modes(store: Store, f: Filters) -> Table:
    d = _dialect(store)
    if src := rollup.table_for(store):
        sql = f"""SELECT {d.period(f.granularity, "day")} AS period, mode, {src.distinct_ids()} AS servers
                  FROM {src.table} {where(f, d, "role = 'server'", by_day=True)}
                  GROUP BY period, mode ORDER BY period, mode{src.settings}"""
    else:
        sql = f"""
            WITH pairs AS (SELECT DISTINCT {d.period(f.granularity)} AS period, mode, install_id FROM events
                           {where(f, d, IS_SERVER)})
            SELECT period, mode, count(*) AS servers FROM pairs GROUP BY period, mode ORDER BY period, mode"""
    rows = _fetch(store, sql, ["period", "mode", "servers"])
    totals: dict[Any, int] = {}
    for period, _, n in rows:
        totals[period] = totals.get(period, 0) + n
    # The share is of the servers seen in the period; a server that changed mode counts once per mode.
    return Table(["period", "mode", "servers", "share"], [[*r, _share(r[2], totals[r[0]])] for r in rows])


def versions(store: Store, f: Filters) -> Table:
    d = _dialect(store)
    if src := rollup.table_for(store):
        sql = f"""SELECT {d.period(f.granularity, "day")} AS period, role AS kind, version,
                         {src.distinct_ids()} AS installs
                  FROM {src.rows(f)} {where(f, d, "version IS NOT NULL", by_day=True)}
                  GROUP BY period, kind, version ORDER BY period, kind, version{src.settings}"""
    else:
        p = d.period(f.granularity)
        sql = f"""
            WITH pairs AS (SELECT DISTINCT period, kind, version, id FROM (
                SELECT DISTINCT {p} AS period, CASE WHEN {IS_SERVER} THEN 'server' ELSE 'client' END AS kind,
                       app_version AS version, install_id AS id
                FROM events {where(f, d, "app_version IS NOT NULL")}
                UNION ALL
                SELECT DISTINCT {p} AS period, 'client' AS kind, client_app_version AS version,
                       client_install_id AS id
                FROM events {where(f, d, "client_app_version IS NOT NULL", "client_install_id IS NOT NULL")}) AS v)
            SELECT period, kind, version, count(*) AS installs FROM pairs
            GROUP BY period, kind, version ORDER BY period, kind, version"""
    columns = ["period", "kind", "version", "installs"]
    return Table(columns, _fetch(store, sql, columns))


def platforms(store: Store, f: Filters) -> Table:
    rows = latest_sql.by_latest(store, f, [
        (True, [("os", "os_name", "os_name"), ("arch", "arch", "arch")]),
        (False, [("client_os", "client_os_name", "os_name"), ("client_arch", "client_arch", "arch"),
                 ("client_user_agent", "client_user_agent", "user_agent")]),
    ])
    rows.sort(key=lambda r: (r[0], -r[2], r[1]))
    return Table(["kind", "value", "installs"], rows)


def performance(store: Store, f: Filters, by: PerformanceBy = "time") -> Table:
    """p50/p95/p99 from a histogram of the durations, within `durations.RELATIVE_ERROR` (1.1 %) of the exact
    interpolated percentiles: the same answer from both stores' rollups and from the events."""
    # Failed requests are left out: a refused upload returns fast and would flatter the figures.
    rows = []
    for key, event, buckets, counts in performance_sql.histograms(store, _dialect(store), f, by):
        if q := durations.percentiles(buckets, counts, (0.5, 0.95, 0.99)):
            rows.append([plain(key), event, int(sum(counts)), *(round(x, 3) for x in q)])
    return Table([{"time": "period"}.get(by, by), "event", "requests", "p50_ms", "p95_ms", "p99_ms"], rows)


def model_sizes(store: Store, f: Filters) -> Table:
    d = _dialect(store)
    src = rollup.table_for(store)
    if src and d.clickhouse:  # the `event_days` projection's histogram of sizes
        sql = f"SELECT {clickhouse_event_days.SIZES} AS h FROM events {_by_day(src, f, d)}{src.settings}"
        counts = {int(b): int(n) for b, n in store.fetch(sql)[0]["h"].items()}
    else:
        sql = f"""SELECT {d.log2_floor('model_size_bytes')} AS b, count(*) AS uploads FROM events
                  {where(f, d, "event = 'model_uploaded'", "model_size_bytes > 0")} GROUP BY b ORDER BY b"""
        counts = {int(r["b"]): int(r["uploads"]) for r in store.fetch(sql)}
    rows = []
    if counts:
        # Every power-of-two bucket between the smallest and largest, so empty ones show as gaps.
        for b in range(min(counts), max(counts) + 1):
            rows.append([2**b, 2 ** (b + 1), f"{_bytes(2**b)}–{_bytes(2 ** (b + 1))}", counts.get(b, 0)])
    return Table(["from_bytes", "to_bytes", "label", "uploads"], rows)


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024:
            return f"{n} {unit}"
        n //= 1024
    return f"{n} PiB"


#: Uptime buckets, in seconds (upper bounds, exclusive, as the ClickHouse projection counts them), and labels.
UPTIME_BUCKETS: tuple[tuple[float, str], ...] = tuple(zip(
    (*clickhouse_event_days.UPTIME_LIMITS, math.inf),
    ("< 1 min", "1–10 min", "10–60 min", "1–6 h", "6–24 h", "1–7 days", "≥ 7 days"), strict=True))


def uptime(store: Store, f: Filters) -> Table:
    d = _dialect(store)
    # A server reports its uptime when it stops: one value per process that stopped cleanly. (A process that
    # crashed sends no server_stopped and is not in this distribution.)
    src = rollup.table_for(store)
    if src and d.clickhouse:  # the `event_days` projection's histogram of uptimes
        sql = f"SELECT {clickhouse_event_days.UPTIMES} AS h FROM events {_by_day(src, f, d)}{src.settings}"
        counts = {int(b): int(n) for b, n in store.fetch(sql)[0]["h"].items()}
    else:
        cases = " ".join(f"WHEN uptime_s < {limit} THEN {i}" for i, (limit, _) in enumerate(UPTIME_BUCKETS[:-1]))
        sql = f"""SELECT CASE {cases} ELSE {len(UPTIME_BUCKETS) - 1} END AS b, count(*) AS processes FROM events
                  {where(f, d, "event = 'server_stopped'", "uptime_s IS NOT NULL")} GROUP BY b"""
        counts = {int(r["b"]): int(r["processes"]) for r in store.fetch(sql)}
    return Table(["bucket", "processes"], [[label, counts.get(i, 0)] for i, (_, label) in enumerate(UPTIME_BUCKETS)])


def hardware(store: Store, f: Filters) -> Table:
    rows = []
    dimensions = [("cpu_count", "cpu_count", "cpu_count"), ("memory_gb", "memory_gb", "memory_gb")]
    for kind, value, n in latest_sql.by_latest(store, f, [(True, dimensions)]):
        number = float(value)
        rows.append([kind, int(number) if number.is_integer() else number, n])
    rows.sort(key=lambda r: (r[0], r[1]))
    return Table(["kind", "value", "installs"], rows)


def funnel(store: Store, f: Filters) -> Table:
    d = _dialect(store)
    src = rollup.table_for(store)
    sql = funnel_sql.from_rollup(src, d, f) if src else funnel_sql.from_events(d, f)
    row = store.fetch(sql)[0]
    started, uploaded, ran = (int(row[k] or 0) for k in ("started", "uploaded", "ran"))
    # ClickHouse: the installs whose arrays must be read to say (none from the events or DuckDB)
    undecided, days = list(row.get("undecided") or []), list(row.get("undecided_days") or [])
    for i in range(0, len(undecided), funnel_sql.UNDECIDED_CHUNK):
        chunk = slice(i, i + funnel_sql.UNDECIDED_CHUNK)
        assert src is not None
        settled = store.fetch(funnel_sql.settle(src, d, f, undecided[chunk], days[chunk]))[0]
        uploaded, ran = uploaded + int(settled["uploaded"] or 0), ran + int(settled["ran"] or 0)
    # Each step counts installs that did the step before it, so the counts only fall: `share` is of those that
    # started, `of_previous` of the step before (what a bar's label says).
    return Table(["step", "installs", "share", "of_previous"], [
        ["started", started, _share(started, started), _share(started, started)],
        ["uploaded", uploaded, _share(uploaded, started), _share(uploaded, started)],
        ["ran", ran, _share(ran, started), _share(ran, uploaded)],
    ])


def retention(store: Store, f: Filters) -> Table:
    d = _dialect(store)
    # The cohort is the week an install is first seen in the range; week k counts the cohort's installs
    # that sent anything k weeks later.
    src = rollup.table_for(store)
    if src and d.clickhouse:
        # One pass: each install's weeks, its cohort the first (ClickHouse would read a CTE once per reference,
        # and join them: 100 M events, 320 -> 130 ms).
        sql = f"""
            SELECT cohort, intDiv(dateDiff('day', cohort, wk), 7) AS week, count() AS installs FROM (
                SELECT id, groupUniqArray(toMonday(day)) AS weeks, arrayMin(weeks) AS cohort
                FROM {src.rows(f)} {where(f, d, 'own', by_day=True)} GROUP BY id) ARRAY JOIN weeks AS wk
            GROUP BY cohort, week ORDER BY cohort, week{src.settings}"""
        return _retention(store.fetch(sql))
    if src:
        active = f"SELECT DISTINCT id AS install_id, {d.period('week', 'day')} AS wk FROM {src.rows(f)} " \
                 f"{where(f, d, 'own', by_day=True)}"
    else:
        active = f"SELECT DISTINCT install_id, {d.period('week')} AS wk FROM events {where(f, d)}"
    sql = f"""
        WITH a AS {d.materialized}({active}),
        c AS (SELECT install_id, min(wk) AS cohort FROM a GROUP BY install_id)
        SELECT c.cohort AS cohort, {d.int_div(d.day_diff('c.cohort', 'a.wk'), 7)} AS week, count(*) AS installs
        FROM c JOIN a ON a.install_id = c.install_id GROUP BY cohort, week ORDER BY cohort, week{d.no_final}"""
    return _retention(store.fetch(sql))


def _retention(answer: Sequence[dict[str, Any]]) -> Table:
    rows = [[plain(r["cohort"]), int(r["week"]), int(r["installs"])] for r in answer]
    sizes = {cohort: n for cohort, week, n in rows if week == 0}
    return Table(["cohort", "week", "installs", "share"],
                 [[c, w, n, _share(n, sizes.get(c, 0))] for c, w, n in rows])


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    #: One sentence saying what the panel shows (on the page and in the report).
    description: str
    query: Callable[[Store, Filters], Table]
    #: Rows are per period (`period` column, by `granularity`): its answer lists the partial periods.
    time_series: bool = False


PANELS: dict[str, Panel] = {p.id: p for p in (
    Panel("active_installs", "Active installs",
          "Distinct installs that sent at least one event in each period, servers and clients counted apart.",
          active_installs, time_series=True),
    Panel("events", "Events over time", "How many events of each type arrived in each period.", events_over_time,
          time_series=True),
    Panel("modes", "Servers by mode",
          "Share of active servers running in hardware, simulation or DCsv3 mode in each period.", modes,
          time_series=True),
    Panel("versions", "Version adoption",
          "Distinct server and client installs on each version in each period.", versions, time_series=True),
    Panel("platforms", "Platforms",
          "Installs by operating system and CPU architecture, and clients by OS, architecture and user agent "
          "(each counted once, by what it reported last).",
          platforms),
    Panel("performance", "Request performance",
          "p50 / p95 / p99 of duration_ms of successful model uploads and runs as measured in the wild.",
          performance, time_series=True),
    Panel("model_sizes", "Model sizes", "How many uploaded models fall in each power-of-two size range.",
          model_sizes),
    Panel("uptime", "Server uptime", "How long server processes ran before they stopped (uptime at server_stopped).",
          uptime),
    Panel("hardware", "Hardware",
          "Installs by CPU count and by memory, as last reported (the SDK rounds memory to a power of two).",
          hardware),
    Panel("funnel", "Funnel",
          "Servers started in the range; of them, how many uploaded a model within the window; of those, how many "
          "then ran one within it.",
          funnel),
    Panel("retention", "Weekly retention",
          "For each weekly cohort of installs first seen in the range, how many still sent events k weeks later.",
          retention),
)}
