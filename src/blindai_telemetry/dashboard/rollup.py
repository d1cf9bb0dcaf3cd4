"""A per-day rollup of install activity, kept in memory beside a DuckDB store, for the distinct-install panels.

Counting distinct installs per day, week or month over millions of events means hashing every event's
36-character id for every panel (DuckDB, 10 M events on 2 cores: 0.3 to 1.5 s a panel). The rollup does
it once: one row per day × filter values (app, version, mode, CI) × install, the install numbered densely
(0, 1, 2, ...), so that a panel counts distinct installs by setting bits (`bitstring_agg` + `bit_count`)
instead of building a hash table of millions of ids.

- It lives in an in-memory database ATTACHed to the store's DuckDB instance (`blindai_dashboard`), built
  with the store's own engine: nothing is copied through Python, and the store's file is never written.
- It is built in a background thread when first asked for; until then the panels read the raw events.
- It stays exact: a day is rebuilt when its event count or latest `received_at` changes (new events,
  deletions, retention), checked at most once a second. Ids are numbered through their 64-bit hash (a
  collision among 50,000 installs has odds of about 1 in 10^10).
- A ClickHouse store keeps the same table itself (`stores.clickhouse_rollups`, filled by materialized views on
  insert): `table_for` names it, and `Source` spells the counts in its dialect. `tests/dashboard/test_clickhouse.py`
  checks that both stores give the same answers.
"""

from __future__ import annotations

import logging
import threading
import time as _time
import weakref
from dataclasses import dataclass
from datetime import date
from typing import Any

from blindai_telemetry.dashboard.filters import Filters
from blindai_telemetry.stores import clickhouse_event_days, clickhouse_rollups, durations
from blindai_telemetry.stores import platform_names as names
from blindai_telemetry.stores.base import Store, StoreError

log = logging.getLogger(__name__)

DATABASE = "blindai_dashboard"
TABLE = f"{DATABASE}.install_days"
_IDS = f"{DATABASE}.install_numbers"  # 64-bit hash of an install id -> its dense number
_STAGING = f"{DATABASE}.staging"
#: Per day × filter values × event: the counts and the first and last time (what `events` and the summary read),
#: and the successful requests' durations as `stores.durations` buckets them (what the performance panel reads):
#: the same columns as the ClickHouse store's `event_days` projection (`stores.clickhouse_event_days`).
EVENT_DAYS = f"{DATABASE}.event_days"
DURATION_DAYS = f"{DATABASE}.duration_days"
#: `install_days` without the servers' app, version and mode, for panels with no filter on them: a client named
#: by servers of several versions and modes has a row per (version, mode) a day there (as ClickHouse's
#: `install_days` projections do, `stores.clickhouse_rollups`).
COARSE = f"{DATABASE}.install_days_coarse"
#: Concurrent requests of one page load share one freshness check.
CHECK_INTERVAL = 1.0

#: Attributes kept per install-day row with the time they were last reported, so that "each install under
#: the value it reported last" (platforms, hardware) reads the rollup as it would read the events.
_ATTRIBUTES = ("os_name", "arch", "cpu_count", "memory_gb", "user_agent")

# Platform names as `names` maps them, so the rollup counts what the raw events' queries count.
_SOURCE = f"""
    SELECT time, event, app, app_version, mode, coalesce(is_ci, false) AS is_ci,
           CASE WHEN mode IS NOT NULL THEN 'server' ELSE 'client' END AS role, true AS own, install_id AS id,
           app_version AS version, {names.sql("os_name")} AS os_name, {names.sql("arch")} AS arch, cpu_count,
           memory_gb, CAST(NULL AS VARCHAR) AS user_agent
    FROM events {{where}}
    UNION ALL
    SELECT time, NULL, app, app_version, mode, coalesce(is_ci, false), 'client', false, client_install_id,
           client_app_version, {names.sql("client_os_name")}, {names.sql("client_arch")}, NULL, NULL,
           client_user_agent
    FROM events {{where_client}}"""
_LATEST = ", ".join(f"arg_max({a}, time) FILTER (WHERE {a} IS NOT NULL) AS {a}, "
                    f"max(time) FILTER (WHERE {a} IS NOT NULL) AS {a}_t" for a in _ATTRIBUTES)
_KEYS = "day, app, app_version, mode, is_ci, role, own, h, version"
#: The funnel's steps per install-day: the first start, and the times of the uploads and runs. Times, not counts:
#: the funnel's window opens at an install's first start to the millisecond, and "ran" means a run after the
#: first upload inside it, which no per-day count or min/max can say exactly.
_FUNNEL = ("min(time) FILTER (WHERE event = 'server_started') AS started, "
           "list(time ORDER BY time) FILTER (WHERE event = 'model_uploaded') AS uploads, "
           "list(time ORDER BY time) FILTER (WHERE event = 'model_run') AS runs")
_BUILD = f"""
    SELECT CAST(time AS DATE) AS day, app, app_version, mode, is_ci, role, own, hash(id) AS h, version, {_LATEST},
           {_FUNNEL}
    FROM ({{source}}) AS s GROUP BY {_KEYS}"""
_COARSE_KEYS = "day, is_ci, role, own, version, id"
_COARSE = (f"SELECT {_COARSE_KEYS}, "
           + ", ".join(f"arg_max({a}, {a}_t) FILTER (WHERE {a} IS NOT NULL) AS {a}, max({a}_t) AS {a}_t"
                       for a in _ATTRIBUTES)
           + f" FROM {TABLE} WHERE {{where}} GROUP BY {_COARSE_KEYS}")
_EVENT_KEYS = "CAST(time AS DATE) AS day, app, app_version, mode, coalesce(is_ci, false) AS is_ci, event"
_EVENT_DAYS = f"""
    SELECT {_EVENT_KEYS}, count(*) AS n, count(*) FILTER (WHERE source = 'seed') AS seeded, min(time) AS first,
           max(time) AS last
    FROM events WHERE {{where}} GROUP BY ALL"""
_DURATION_DAYS = f"""
    SELECT {_EVENT_KEYS}, {durations.bucket("duration_ms", "duckdb")} AS b, count(*) AS n
    FROM events WHERE {{where}} AND event IN ('model_uploaded', 'model_run') AND {clickhouse_event_days.TIMED}
    GROUP BY ALL"""


class Rollup:
    """The rollup of one DuckDB store: built once in the background, then brought up to date on use."""

    def __init__(self, store: Store) -> None:
        # Weak: the registry below is keyed by the store, and a strong reference here would keep it alive.
        self._store_ref = weakref.ref(store)
        self._lock = threading.Lock()
        self._days: dict[Any, tuple[int, Any, int]] = {}
        self._checked_at = -CHECK_INTERVAL
        self._changes: int | None = None  # the store's change count at the last check
        self.max_id = 0
        self.built = threading.Event()
        self._builder: threading.Thread | None = None

    @property
    def _store(self) -> Store:
        store = self._store_ref()
        if store is None:
            raise StoreError("the store is gone")
        return store

    def _select(self, condition: str | None) -> str:
        extra = (condition,) if condition else ()
        source = _SOURCE.format(where=("WHERE " + " AND ".join(extra)) if extra else "",
                                where_client="WHERE " + " AND ".join(("client_install_id IS NOT NULL", *extra)))
        return _BUILD.format(source=source)

    def _signature(self) -> dict[Any, tuple[int, Any, int]]:
        # The count of client ids too: a deletion request clears the client ids naming an install on other
        # installs' events, which changes neither a day's event count nor its latest arrival.
        return {r["day"]: (int(r["n"]), r["last"], int(r["clients"])) for r in self._store.fetch(
            "SELECT CAST(time AS DATE) AS day, count(*) AS n, max(received_at) AS last, "
            "count(client_install_id) AS clients FROM events GROUP BY day")}

    def _add(self, condition: str | None) -> str:
        """SQL that adds the rows of the events matching `condition` (all when None), numbering new installs."""
        return f"""
            INSERT INTO {EVENT_DAYS} {_EVENT_DAYS.format(where=condition or "true")};
            INSERT INTO {DURATION_DAYS} {_DURATION_DAYS.format(where=condition or "true")};
            CREATE OR REPLACE TABLE {_STAGING} AS {self._select(condition)};
            INSERT INTO {_IDS}
                SELECT h, (SELECT coalesce(max(n) + 1, 0) FROM {_IDS}) + row_number() OVER (ORDER BY h) - 1
                FROM (SELECT DISTINCT h FROM {_STAGING} ANTI JOIN {_IDS} USING (h));
            INSERT INTO {TABLE} BY NAME
                SELECT s.* EXCLUDE (h), i.n AS id FROM {_STAGING} AS s JOIN {_IDS} AS i USING (h);
            INSERT INTO {COARSE} {_COARSE.format(where=f"day IN (SELECT DISTINCT day FROM {_STAGING})")};
            DROP TABLE {_STAGING};"""

    def _count_ids(self) -> None:
        self.max_id = int(self._store.fetch(f"SELECT coalesce(max(n), 0) AS m FROM {_IDS}")[0]["m"])

    def _build(self) -> None:
        try:
            with self._lock:
                self._changes = getattr(self._store, "changes", None)
                days = self._signature()
                self._store.fetch(f"ATTACH IF NOT EXISTS ':memory:' AS {DATABASE}")
                self._store.fetch(f"CREATE OR REPLACE TABLE {_IDS} (h UBIGINT PRIMARY KEY, n INTEGER NOT NULL)")
                self._store.fetch(f"CREATE OR REPLACE TABLE {TABLE} AS SELECT * EXCLUDE (h), 0 AS id "
                                  f"FROM ({self._select('false')})")
                for table, select in ((EVENT_DAYS, _EVENT_DAYS), (DURATION_DAYS, _DURATION_DAYS), (COARSE, _COARSE)):
                    self._store.fetch(f"CREATE OR REPLACE TABLE {table} AS {select.format(where='false')}")
                self._store.fetch(self._add(None))
                self._count_ids()
                self._days, self._checked_at = days, _time.monotonic()
                self.built.set()
        except StoreError as exc:  # e.g. the store was closed meanwhile: the next request tries again
            log.warning("could not build the dashboard rollup (%s); panels answer from the raw events", exc)
        finally:
            self._builder = None

    def fresh(self, wait: bool = False, now: bool = False) -> Source | None:
        """The rollup, after rebuilding the days whose events changed since the last check (`now`: check even
        if the last check is under a second old); None while the first build runs (in the background: the
        first page after a start reads the raw events rather than wait for it)."""
        if not self.built.is_set():
            with self._lock:
                if self._builder is None and not self.built.is_set():
                    self._builder = threading.Thread(target=self._build, name="dashboard-rollup", daemon=True)
                    self._builder.start()
            if not (wait and self.built.wait(timeout=600)):
                return None
        with self._lock:
            # A store that counts its changes (DuckDB's: it is the file's only writer) spares the check, a scan of
            # the events by day (60 ms at 10 M events), while nothing was written or deleted since the last one.
            changes = getattr(self._store, "changes", None)
            if changes is not None and changes == self._changes:
                self._checked_at = _time.monotonic()
            elif now or _time.monotonic() - self._checked_at >= CHECK_INTERVAL:
                self._changes = changes  # read before the check: a write during it is seen by the next one
                days = self._signature()
                changed = sorted(d for d in days.keys() | self._days.keys() if days.get(d) != self._days.get(d))
                if changed:
                    self._rebuild(changed)
                    if any(days.get(d, (0,))[0] < self._days.get(d, (0,))[0] for d in changed):
                        # Events were deleted (on request, or by retention): forget the numbers of installs
                        # that no longer appear, so nothing of a deleted install stays here either.
                        self._store.fetch(f"DELETE FROM {_IDS} WHERE n NOT IN (SELECT DISTINCT id FROM {TABLE})")
                    self._count_ids()
                self._days, self._checked_at = days, _time.monotonic()
            return Source(TABLE, self.max_id)

    def _rebuild(self, changed: list[date]) -> None:
        listed = ", ".join(f"DATE '{d.isoformat()}'" for d in changed)
        # The time bound lets DuckDB skip older blocks (events are stored roughly in time order).
        condition = f"time >= TIMESTAMP '{changed[0].isoformat()}' AND CAST(time AS DATE) IN ({listed})"
        deletes = " ".join(f"DELETE FROM {t} WHERE day IN ({listed});"
                           for t in (TABLE, COARSE, EVENT_DAYS, DURATION_DAYS))
        self._store.fetch(f"BEGIN TRANSACTION; {deletes} {self._add(condition)} COMMIT")


@dataclass(frozen=True)
class Source:
    """The rollup table to read; for DuckDB's, the highest install number in it (the width of the bit sets)."""

    table: str
    max_id: int = 0
    dialect: str = "duckdb"

    def rows(self, f: Filters) -> str:
        """The table to read the distinct installs (and their latest values) for filters `f` from: DuckDB's
        coarse one when they name no app, version or mode (ClickHouse picks its projections itself)."""
        coarse = self.dialect == "duckdb" and f.app is None and f.app_version is None and f.mode is None
        return COARSE if coarse else self.table

    def distinct_ids(self, only: str | None = None) -> str:
        """Exact count of distinct installs in a GROUP BY (of the rows matching `only`); 0 when none matches.
        DuckDB sets one bit per install number; ClickHouse counts the ids' hashes."""
        if self.dialect == "clickhouse":
            return f"uniqExactIf(id, {only})" if only else "uniqExact(id)"
        where = f" FILTER (WHERE {only})" if only else ""
        return f"coalesce(bit_count(bitstring_agg(id, 0, {self.max_id}){where}), 0)"

    def latest(self, attribute: str) -> str:
        """The value of `attribute` an install reported last, within a GROUP BY over its rows."""
        if self.dialect == "clickhouse":
            return f"argMaxIf({attribute}, t, {attribute} IS NOT NULL)"
        return f"arg_max({attribute}, {attribute}_t) FILTER (WHERE {attribute} IS NOT NULL)"

    # The per-day event counts: DuckDB's `event_days` table, or ClickHouse's `events` read through its
    # `event_days` projection (which it picks for a query spelled with these expressions, without FINAL).

    @property
    def events(self) -> str:
        return "events" if self.dialect == "clickhouse" else EVENT_DAYS

    @property
    def day(self) -> str:
        return clickhouse_event_days.DAY if self.dialect == "clickhouse" else "day"

    @property
    def is_ci(self) -> str:
        return clickhouse_event_days.IS_CI if self.dialect == "clickhouse" else "is_ci"

    def event_sql(self, what: str) -> str:
        """An aggregate over the per-day event counts: `count`, `seeded`, `first` or `last` (time)."""
        if self.dialect == "clickhouse":
            return {"count": clickhouse_event_days.EVENTS, "seeded": clickhouse_event_days.SEEDED,
                    "first": clickhouse_event_days.FIRST, "last": clickhouse_event_days.LAST}[what]
        return {"count": "sum(n)", "seeded": "sum(seeded)", "first": "min(first)", "last": "max(last)"}[what]

    @property
    def settings(self) -> str:
        """What ends a query that reads only the rollup: ClickHouse's store reads with FINAL by default, which
        this table does not need (duplicate rows change neither a distinct count nor a latest value)."""
        return " SETTINGS final = 0" if self.dialect == "clickhouse" else ""


_ROLLUPS: weakref.WeakKeyDictionary[Store, Rollup] = weakref.WeakKeyDictionary()
_ROLLUPS_LOCK = threading.Lock()


def table_for(store: Store, wait: bool = False, now: bool = False) -> Source | None:
    """The up-to-date rollup table of a DuckDB store, or None: another dialect, the rollup still being built
    (unless `wait`), or failing. `now`: up to date with the events stored at this moment, not a second ago."""
    if store.dialect == "clickhouse":
        # Kept by ClickHouse itself on every insert (stores.clickhouse_rollups): always up to date.
        return Source(clickhouse_rollups.TABLE, dialect="clickhouse")
    if store.dialect != "duckdb":
        return None
    with _ROLLUPS_LOCK:
        rollup = _ROLLUPS.get(store)
        if rollup is None:
            rollup = _ROLLUPS[store] = Rollup(store)
    try:
        return rollup.fresh(wait, now)
    except StoreError:  # the panels fall back to the raw events: slower, still right
        log.warning("dashboard rollup unavailable; answering from the raw events", exc_info=True)
        return None
