"""The funnel's SQL, over the rollup or over the raw events: both answer `started, uploaded, ran` alike.

Each step counts installs that did the step before it, inside the window opened by the install's first start in
the range (`Filters.window_days`); `queries.funnel` turns the answer into the panel's table.
"""

from __future__ import annotations

from blindai_telemetry.dashboard import rollup
from blindai_telemetry.dashboard.filters import Dialect, Filters, where


def from_rollup(src: rollup.Source, d: Dialect, f: Filters) -> str:
    """The funnel over the rollup, as `from_events` asks it of the events: each install-day row keeps its first
    start and the times of its uploads and runs; only the rows of the days an install's window touches are read."""
    w = f.window_days
    rows = where(f, d, "own", f"day >= {d.period('day', 't0')}",
                 f"day <= {d.period('day', f't0 + INTERVAL {w} DAY')}", by_day=True)
    if d.clickhouse:
        return _clickhouse(src, d, f, rows)
    # UNNEST rather than a lambda: DuckDB 2 refuses the arrow syntax and DuckDB < 1.3 knows no other.
    x = f"""SELECT id, min(u) FILTER (WHERE u >= t0 AND u < t0 + INTERVAL {w} DAY) AS t1,
                   max(r) FILTER (WHERE r >= t0 AND r < t0 + INTERVAL {w} DAY) AS tr FROM (
                SELECT id, t0, unnest(uploads) AS u, unnest(runs) AS r
                FROM {src.table} JOIN s USING (id) {rows}) AS r GROUP BY id"""
    return f"""
        WITH s AS {d.materialized}(SELECT id, min(started) AS t0 FROM {src.table}
                                   {where(f, d, "own", "started IS NOT NULL", by_day=True)} GROUP BY id),
        x AS ({x})
        SELECT (SELECT count(*) FROM s) AS started, count(t1) AS uploaded,
               sum(CASE WHEN tr >= t1 THEN 1 ELSE 0 END) AS ran FROM x{src.settings}"""


def from_events(d: Dialect, f: Filters) -> str:
    """The funnel over the raw events (a store without a rollup, or DuckDB's while its first build runs)."""
    w = f.window_days
    # Each install's first start in the range opens its window. One more pass over that install's uploads and
    # runs inside the window finds its first upload (t1) and its last run (tr): it "ran" when tr >= t1, i.e.
    # when some run came after the first upload and inside the window.
    return f"""
        WITH s AS {d.materialized}(SELECT install_id, min(time) AS t0 FROM events
                                   {where(f, d, "event = 'server_started'")} GROUP BY install_id),
        x AS (SELECT e.install_id AS install_id,
                     min(CASE WHEN e.event = 'model_uploaded' THEN e.time END) AS t1,
                     max(CASE WHEN e.event = 'model_run' THEN e.time END) AS tr
              FROM events AS e JOIN s ON e.install_id = s.install_id
              {where(f, d, "e.event IN ('model_uploaded', 'model_run')", "e.time >= s.t0",
                     f"e.time < s.t0 + INTERVAL {w} DAY")}
              GROUP BY e.install_id)
        SELECT (SELECT count(*) FROM s) AS started, count(t1) AS uploaded,
               sum(CASE WHEN tr >= t1 THEN 1 ELSE 0 END) AS ran FROM x{d.no_final}"""


def _clickhouse(src: rollup.Source, d: Dialect, f: Filters, rows: str) -> str:
    """ClickHouse's funnel over the rollup without its 72 M run times (100 M events): each install-day's first and
    last run (`first_run`, `last_run`) say whether it holds a run in [t1, t0 + window) unless both lie outside
    it on either side, which can only happen on the window's last day when the first upload falls on it. Those
    installs' ids come back as `undecided` for `undecided_runs` to settle from `runs` itself (a 7-day window at
    100 M events: none; a 1-day window: 4,036 of 28,506).
    Every install that started has a row in `x`, the one of its first start, so `x` counts them too (ClickHouse
    would compute `s` a second time for a `count()` of it)."""
    w = f.window_days
    # A run inside [t1, end) is certain when the first or the last run of a day lies inside; none when the
    # last run comes before t1 or the first at or after the end; otherwise (first before t1, last at or after
    # the end) only the day's runs can say.
    inside = "p -> (p.1 >= t1 AND p.1 < e) OR (p.2 >= t1 AND p.2 < e)"
    unsure = "p -> p.1 < t1 AND p.2 >= e"
    return f"""
        WITH s AS (SELECT id, assumeNotNull(min(started)) AS t0 FROM {src.table}
                   {where(f, d, "own", "started IS NOT NULL", by_day=True)} GROUP BY id),
        x AS (SELECT id, any(t0 + INTERVAL {w} DAY) AS e,
                     min(arrayReduce('minOrNull', arrayFilter(u -> u >= t0 AND u < t0 + INTERVAL {w} DAY, uploads)))
                         AS t1,
                     groupArrayIf((first_run, last_run), first_run IS NOT NULL) AS bounds
              FROM {src.table} JOIN s USING (id) {rows} GROUP BY id),
        y AS (SELECT id, e, t1, multiIf(t1 IS NULL, 0, arrayExists({inside}, bounds), 2,
                                         arrayExists({unsure}, bounds), 1, 0) AS r FROM x)
        SELECT count() AS started, count(t1) AS uploaded, countIf(r = 2) AS ran, groupArrayIf(id, r = 1) AS undecided
        FROM y{src.settings}"""


#: Installs per query of `undecided_runs` (their ids are inlined: ClickHouse's query is at most 256 KiB).
UNDECIDED_CHUNK = 5000


def undecided_runs(src: rollup.Source, d: Dialect, f: Filters, ids: list[int]) -> str:
    """How many of the `undecided` installs (ids) ran after their first upload inside their window. Their first
    upload falls on the window's last day (`_clickhouse`), where it is that day's first upload before the window
    ends: only that day's rows are read, and `runs` only in the granules that hold them."""
    w = f.window_days
    listed = f"id IN ({', '.join(str(int(i)) for i in ids)})"
    return f"""
        WITH s AS (SELECT id, assumeNotNull(min(started)) + INTERVAL {w} DAY AS e FROM {src.table}
                   {where(f, d, "own", "started IS NOT NULL", listed, by_day=True)} GROUP BY id)
        SELECT countIf(arrayExists(r -> r >= t1, rs)) AS ran FROM (
            SELECT id, min(arrayReduce('minOrNull', arrayFilter(u -> u < e, uploads))) AS t1,
                   groupArrayArray(arrayFilter(r -> r < e, runs)) AS rs
            FROM {src.table} JOIN s USING (id) {where(f, d, "own", listed, "day = toDate(e)", by_day=True)}
            GROUP BY id){src.settings}"""
