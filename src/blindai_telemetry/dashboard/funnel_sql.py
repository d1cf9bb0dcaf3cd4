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
    first = "assumeNotNull(min(started))" if d.clickhouse else "min(started)"
    if d.clickhouse:
        def inside(step: str, agg: str) -> str:
            return f"arrayReduce('{agg}OrNull', arrayFilter(t -> t >= t0 AND t < t0 + INTERVAL {w} DAY, {step}))"

        x = f"""SELECT id, min(t1) AS t1, max(tr) AS tr FROM (
                    SELECT id, {inside("uploads", "min")} AS t1, {inside("runs", "max")} AS tr
                    FROM {src.table} JOIN s USING (id) {rows}) AS r GROUP BY id"""
    else:
        # UNNEST rather than a lambda: DuckDB 2 refuses the arrow syntax and DuckDB < 1.3 knows no other.
        x = f"""SELECT id, min(u) FILTER (WHERE u >= t0 AND u < t0 + INTERVAL {w} DAY) AS t1,
                       max(r) FILTER (WHERE r >= t0 AND r < t0 + INTERVAL {w} DAY) AS tr FROM (
                    SELECT id, t0, unnest(uploads) AS u, unnest(runs) AS r
                    FROM {src.table} JOIN s USING (id) {rows}) AS r GROUP BY id"""
    return f"""
        WITH s AS {d.materialized}(SELECT id, {first} AS t0 FROM {src.table}
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
