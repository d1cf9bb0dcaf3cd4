"""The ClickHouse store's rollup: one row per install per day and filter values, kept by the engine on insert.

Counting distinct installs per day over the raw `events` means hashing every event's 36-character id for every
panel, and reading with FINAL (issue 15 measured 2 to 6 s a panel at 10 M events). `install_days` holds what
the distinct-install panels need — one row per day × app × version × mode × CI × role × install (the id as a
64-bit hash) — filled by two materialized views on `events` (an install's own events; the clients a server's
events name), so every collector's insert updates it inside ClickHouse, whichever collector made it:

- An `AggregatingMergeTree`: the key collapses repeated rows at merges, keeping the latest time `t`. The
  platform and hardware attributes are part of the key (they seldom change within an install's day), so "the
  value an install reported last" is `argMaxIf(attribute, t, attribute IS NOT NULL)` over plain columns —
  measured at 1 M events, 10 times faster than merging `argMax` states. A read needs no FINAL: `uniqExact(id)`
  and that `argMax` give the same answer before and after merges, and a duplicate event (two collectors racing
  on one id) adds nothing to either.
- Deletions: `forget_installs` deletes the installs' rows (own and as a client) with the events, and rebuilds
  the client rows of the days a deleted server named clients; retention
  (`forget_before`) drops whole days before the cutoff and rebuilds the cutoff's own day from the events left.
- Created with the store's other tables; on a store that already holds events it is filled from them once.
- It mirrors the DuckDB store's in-memory rollup (`dashboard.rollup`): same columns, same platform names
  (`stores.platform_names`), so the dashboard's queries read both alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from blindai_telemetry.stores import platform_names as names
from blindai_telemetry.stores.base import StoreError

TABLE = "install_days"
#: Attributes kept to answer "the value an install reported last" (platforms, hardware), and their types.
ATTRIBUTES: dict[str, str] = {"os_name": "Nullable(String)", "arch": "Nullable(String)",
                              "cpu_count": "Nullable(Int32)", "memory_gb": "Nullable(Float64)",
                              "user_agent": "Nullable(String)"}
_KEYS = ("day", "role", "own", "app", "app_version", "mode", "is_ci", "version", "id", *ATTRIBUTES)
#: The same keys, in the table's sort order: every panel reads one side of `own` and, by default, no CI rows, so
#: those two lead and a range of days of an install's own rows is one stretch of the table (100 M events, funnel:
#: 10-11 % less CPU than with the day first, where the clients' and CI rows of each day sit between them).
SORT_KEY = ("own", "is_ci", "day", "role", "app", "app_version", "mode", "version", "id", *ATTRIBUTES)
_LOW = "LowCardinality(Nullable(String))"
_TYPES = {"os_name": _LOW, "arch": _LOW, "user_agent": _LOW}

_CREATE = """CREATE TABLE IF NOT EXISTS install_days (
  day Date, app {low}, app_version {low}, mode {low}, is_ci Bool, role LowCardinality(String), own Bool,
  version {low}, id UInt64,
  {attributes},
  t SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
  started SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
  uploads SimpleAggregateFunction(groupArrayArray, Array(DateTime64(3, 'UTC'))),
  runs SimpleAggregateFunction(groupArrayArray, Array(DateTime64(3, 'UTC'))),
  {derived},
  {projection}
) ENGINE = {engine}
PARTITION BY toYYYYMM(day)
ORDER BY ({keys})
SETTINGS allow_nullable_key = 1, {projection_settings}"""

# Two projections without the servers' app, version and mode, for queries with no filter on them (ClickHouse
# reads a projection for a query whose keys, filters and aggregates it holds); merges and mutations (deletions)
# rebuild them. A client named by servers of several versions and modes has a row per (version, mode) a day
# (100 M events: 21.9 M client rows, 3.2 M without them):
# - `by_install`: those rows, for the clients' latest platform values (1.6 s -> 0.2 s);
# - `distinct_ids`: a `uniqExact(id)` state per day × CI × role × own × version, for the distinct installs per
#   period (versions: 725 ms -> 120 ms; the states of a week merge as fast; over the whole table, a scan of the
#   rows is faster than merging every day's states, and the summary's `uniqExactIf` does not match them).
BY_INSTALL, DISTINCT_IDS = "by_install", "distinct_ids"
_BY_INSTALL_KEYS = ("day", "is_ci", "role", "own", "version", "id", *ATTRIBUTES)
_DISTINCT_KEYS = ("day", "is_ci", "role", "own", "version")
PROJECTIONS = {
    BY_INSTALL: f"SELECT {', '.join(_BY_INSTALL_KEYS)}, max(t) GROUP BY {', '.join(_BY_INSTALL_KEYS)}",
    DISTINCT_IDS: f"SELECT {', '.join(_DISTINCT_KEYS)}, uniqExact(id) GROUP BY {', '.join(_DISTINCT_KEYS)}",
}
PROJECTION = ",\n  ".join(f"PROJECTION {name} ({select})" for name, select in PROJECTIONS.items())
PROJECTION_SETTINGS = "deduplicate_merge_projection_mode = 'rebuild'"

#: The first and last run of an install-day, merged as minimum and maximum (their defaults, from `runs`, fill
#: them for an older store's views, which do not name them): the funnel decides "ran after its first upload,
#: inside the window" from these two for all but the rare install whose window ends on the day of its first
#: upload, where it reads `runs` itself (100 M events: 72 M run times in a 90-day range).
RUN_BOUNDS_COLUMNS = {
    name: f"SimpleAggregateFunction({agg}, Nullable(DateTime64(3, 'UTC'))) DEFAULT arrayReduce('{agg}OrNull', runs)"
    for name, agg in (("first_run", "min"), ("last_run", "max"))
}
#: The uploads as the funnel reads them without `uploads` itself (reading 9.5 M upload times cost the funnel ~200 ms
#: at 100 M events): the first upload, for the days after an install's first start; and, for the day of that start,
#: the first upload at or after the row's own first start and the last one before it (every upload of a row
#: without a start). Merged as minimum / maximum, the first at or after a start stays exact for the day's first start
#: `t0` unless a merged row holds an upload in [t0, its own start): then the last before a start is >= t0, and the
#: funnel reads that install's arrays (`dashboard.funnel_sql`). Filled on insert and for older parts from `uploads`.
UPLOAD_BOUNDS_COLUMNS = {
    name: f"SimpleAggregateFunction({agg}, Nullable(DateTime64(3, 'UTC'))) DEFAULT arrayReduce('{agg}OrNull', {values})"
    for name, agg, values in (
        ("first_upload", "min", "uploads"),
        ("first_upload_after_start", "min", "arrayFilter(u -> u >= started, uploads)"),
        ("last_upload_before_start", "max", "arrayFilter(u -> started IS NULL OR u < started, uploads)"),
    )
}
#: The UTC hours of the day that hold a run, as bits (OR-ed at merges): when an install's first upload and its
#: window's end fall on one day between two runs of it, a run in an hour strictly between theirs says it ran, and
#: no run in their hours either says it did not; only a run in one of those two hours leaves its arrays to read.
RUN_HOURS_COLUMNS = {"run_hours": "SimpleAggregateFunction(groupBitOr, UInt32) DEFAULT arrayReduce('groupBitOr', "
                                  "arrayMap(r -> bitShiftLeft(toUInt32(1), toHour(r)), runs))"}
#: Columns derived from the arrays, added to an older `install_days` by `add_derived_columns`.
DERIVED_COLUMNS = {**RUN_BOUNDS_COLUMNS, **UPLOAD_BOUNDS_COLUMNS, **RUN_HOURS_COLUMNS}
DERIVED = ",\n  ".join(f"{name} {spec}" for name, spec in DERIVED_COLUMNS.items())

#: The funnel's steps per install-day (an install's own events): its first start, the times of its uploads and
#: runs, as the DuckDB rollup keeps them (`dashboard.rollup`). A duplicate event repeats a time in an array, which
#: changes neither a minimum nor whether a run falls in a window.
_FUNNEL = ("minIf(toNullable(time), event = 'server_started') AS started, "
           "groupArrayIf(time, event = 'model_uploaded') AS uploads, "
           "groupArrayIf(time, event = 'model_run') AS runs")
_NO_FUNNEL = ("CAST(NULL AS Nullable(DateTime64(3, 'UTC'))) AS started, "
              "CAST([] AS Array(DateTime64(3, 'UTC'))) AS uploads, CAST([] AS Array(DateTime64(3, 'UTC'))) AS runs")
#: The run bounds as the views write them (own rows; the clients' rows have none).
BOUNDS = {True: "minIf(toNullable(time), event = 'model_run') AS first_run, "
                "maxIf(toNullable(time), event = 'model_run') AS last_run",
          False: "CAST(NULL AS Nullable(DateTime64(3, 'UTC'))) AS first_run, "
                 "CAST(NULL AS Nullable(DateTime64(3, 'UTC'))) AS last_run"}


#: The columns `_select` gives, in its order: an insert names them, and the upload bounds and run hours take their
#: defaults.
_SELECTED = ("day, app, app_version, mode, is_ci, role, own, version, id, " + ", ".join(ATTRIBUTES)
             + ", t, started, uploads, runs, first_run, last_run")


def _insert(own: bool, where: str = "") -> str:
    return f"INSERT INTO {TABLE} ({_SELECTED}) {_select(own, where)}"


def _select(own: bool, where: str = "") -> str:
    """The rows `install_days` gets from the events matching `where` (an install's own, or its clients')."""
    if own:
        role, ident, version = "if(mode IS NULL, 'client', 'server')", "install_id", "app_version"
        values = {"os_name": names.sql("os_name"), "arch": names.sql("arch"), "cpu_count": "cpu_count",
                  "memory_gb": "memory_gb", "user_agent": "NULL"}
    else:
        role, ident, version = "'client'", "client_install_id", "client_app_version"
        values = {"os_name": names.sql("client_os_name"), "arch": names.sql("client_arch"), "cpu_count": "NULL",
                  "memory_gb": "NULL", "user_agent": "client_user_agent"}
        where = " AND ".join(x for x in ("client_install_id IS NOT NULL", where) if x)
    attributes = ", ".join(f"CAST({expr} AS {ATTRIBUTES[a]}) AS {a}" for a, expr in values.items())
    return (f"SELECT toDate(time) AS day, app, app_version, mode, coalesce(is_ci, false) AS is_ci, {role} AS role, "
            f"{'true' if own else 'false'} AS own, {version} AS version, cityHash64({ident}) AS id, {attributes}, "
            f"max(time) AS t, {_FUNNEL if own else _NO_FUNNEL}, {BOUNDS[own]} "
            f"FROM events {('WHERE ' + where) if where else ''} GROUP BY {', '.join(_KEYS)}")


def schema(engine: Callable[..., str]) -> list[str]:
    """The table and its two views, with the store's engine naming (`engine(kind, table)`, replicated or not)."""
    attributes = ", ".join(f"{a} {_TYPES.get(a, t)}" for a, t in ATTRIBUTES.items())
    return [
        _CREATE.format(low=_LOW, attributes=attributes, engine=engine("AggregatingMergeTree", TABLE),
                       keys=", ".join(SORT_KEY), derived=DERIVED, projection=PROJECTION,
                       projection_settings=PROJECTION_SETTINGS),
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS install_days_own TO {TABLE} AS {_select(True)}",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS install_days_clients TO {TABLE} AS {_select(False)}",
    ]


Command = Callable[..., Any]


def current(query: Callable[..., Any], command: Command) -> bool:
    """Whether the store already holds the rollup as this version keeps it. One of an older schema (without the
    funnel's columns, or sorted by day first) is dropped with its views, to be made again and filled from the
    events like a new one — unless it is replicated: an operator made it for the cluster, and dropping it here
    would make a local one (an older sort order is then kept: it answers the same, only slower)."""
    columns = {name for (name,) in query("SELECT name FROM system.columns WHERE database = currentDatabase() "
                                         "AND table = %s", [TABLE]).result_rows}
    if not columns:  # none yet; dropping "if exists" here would drop the one another collector is making now
        return False
    tables = query("SELECT engine, sorting_key FROM system.tables WHERE database = currentDatabase() AND name = %s",
                   [TABLE]).result_rows
    if not tables:  # another collector dropped it a moment ago, to make it again
        return False
    ((engine, sort_key),) = tables
    replicated = str(engine).startswith("Replicated")
    if {"started", "uploads", "runs"} <= columns and (replicated or _keys(str(sort_key)) == SORT_KEY):
        return True
    if replicated:
        raise StoreError(f"{TABLE} predates the funnel's columns (started, uploads, runs): drop it and its two views "
                         "on every replica, make them again as docs/deployment.md shows, then fill it from the "
                         "events with the views' SELECTs (stores/clickhouse_rollups.fill)")
    for statement in (f"DROP VIEW IF EXISTS {TABLE}_own", f"DROP VIEW IF EXISTS {TABLE}_clients",
                      f"DROP TABLE IF EXISTS {TABLE}"):
        command(statement)
    return False


def _keys(sorting_key: str) -> tuple[str, ...]:
    """The columns of a `system.tables.sorting_key` ("own, is_ci, day, ...")."""
    return tuple(name.strip() for name in sorting_key.split(","))


def add_derived_columns(query: Callable[..., Any], command: Command) -> None:
    """Give an `install_days` made before its run or upload bounds those columns, before its views are made again
    (they name the run bounds): filled in the background, and until then computed from the arrays as ClickHouse
    reads a part."""
    names = {name for (name,) in query("SELECT name FROM system.columns WHERE database = currentDatabase() "
                                       "AND table = %s", [TABLE]).result_rows}
    for column, spec in DERIVED_COLUMNS.items():
        if names and column not in names:
            command(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {column} {spec}")
            command(f"ALTER TABLE {TABLE} MATERIALIZE COLUMN {column}", settings={"mutations_sync": 0})


def add_projections(query: Callable[..., Any], command: Command) -> None:
    """Give an `install_days` made before its projections the missing ones, filled from its parts (in the
    background: until then ClickHouse reads a part's own rows, still right)."""
    rows = query(f"SELECT create_table_query FROM system.tables WHERE database = currentDatabase() "
                 f"AND name = '{TABLE}'").result_rows
    missing = [name for name in PROJECTIONS if rows and f"PROJECTION {name}" not in str(rows[0][0])]
    if missing:
        command(f"ALTER TABLE {TABLE} MODIFY SETTING {PROJECTION_SETTINGS}")
    for name in missing:
        command(f"ALTER TABLE {TABLE} ADD PROJECTION IF NOT EXISTS {name} ({PROJECTIONS[name]})")
        command(f"ALTER TABLE {TABLE} MATERIALIZE PROJECTION {name}", settings={"mutations_sync": 0})


def fill(command: Command, where: str = "", months: Sequence[int] = ()) -> None:
    """Add the rows of the stored events matching `where` (all when empty): a first fill, or a rebuilt day.
    `months` (YYYYMM): one insert per month, so that a large store's first fill aggregates a month at a time."""
    for month in months or [0]:
        condition = " AND ".join(x for x in (where, f"toYYYYMM(time) = {int(month)}" if month else "") if x)
        for own in (True, False):
            command(_insert(own, condition))


def forget_installs(query: Callable[..., Any], command: Command, install_ids: Sequence[str],
                    settings: dict[str, Any]) -> None:
    """Delete the installs' rows, as themselves and as clients named by servers (with their events); and, on the
    days a deleted install was a server, rebuild the client rows from the events left (its events named clients
    that, those days, nothing else may have named)."""
    ids = "(SELECT cityHash64(arrayJoin(%s)))"
    days = [d for (d,) in query(f"SELECT DISTINCT day FROM {TABLE} WHERE own AND role = 'server' AND id IN {ids} "
                                "SETTINGS final = 0", [list(install_ids)]).result_rows]
    command(f"ALTER TABLE {TABLE} DELETE WHERE id IN {ids}", [list(install_ids)], settings=settings)
    if days:
        listed = ", ".join(f"toDate('{d.isoformat()}')" for d in days)
        command(f"ALTER TABLE {TABLE} DELETE WHERE NOT own AND day IN ({listed})", settings=settings)
        command(_insert(False, f"toDate(time) IN ({listed})"))


def forget_before(command: Command, cutoff: str, settings: dict[str, Any]) -> None:
    """After retention deleted the events before `cutoff` (a SQL DateTime64 expression): drop the days before it,
    and rebuild its own day from the events that are left in it."""
    command(f"ALTER TABLE {TABLE} DELETE WHERE day <= toDate({cutoff})", settings=settings)
    fill(command, f"toDate(time) = toDate({cutoff})")
