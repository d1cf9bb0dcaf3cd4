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
    window = (f"day >= {d.period('day', 't0')}", f"day <= {d.period('day', f't0 + INTERVAL {w} DAY')}")
    if d.clickhouse:
        # Only the rows that hold a step (100 M events: 2.6 M of 4.2 M), picked before the join.
        steps = "(started IS NOT NULL OR first_upload IS NOT NULL OR first_run IS NOT NULL)"
        if w <= PAIRED_WINDOW_DAYS:  # the join on (id, day) keeps only the window's rows: no filter on them
            return _clickhouse(src, d, f, where(f, d, "own", steps, by_day=True), paired=True)
        return _clickhouse(src, d, f, where(f, d, "own", steps, *window, by_day=True))
    rows = where(f, d, "own", *window, by_day=True)
    # Only the window's first and last days can hold times outside it: their lists are filtered (a comprehension
    # rather than a lambda: DuckDB 2 refuses the arrow syntax and DuckDB < 1.3 knows no other); the days between
    # lie wholly inside it, and their sorted lists give their first upload and last run as they are (10 M events,
    # 90-day window: 224 -> 112 ms against unnesting every list; 7 days 73 -> 80). A run of the first day before
    # t0 may be the latest in `tr` only when none inside follows it, and then it is before t1 too: not "ran".
    end = f"t0 + INTERVAL {w} DAY"
    first, last = d.period("day", "t0"), d.period("day", end)
    x = f"""SELECT id,
                   min(CASE WHEN day = {first} OR day = {last}
                            THEN list_min([u FOR u IN uploads IF u >= t0 AND u < {end}]) ELSE uploads[1] END) AS t1,
                   max(CASE WHEN day = {last} THEN list_max([r FOR r IN runs IF r < {end}])
                            ELSE runs[len(runs)] END) AS tr
            FROM {src.table} JOIN s USING (id) {rows} GROUP BY id"""
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


#: Windows up to this many days join the rollup on (id, day) with each install's window days, so that only the
#: window's rows come out of the join (100 M events, CPU per query: 7 days 506 against 595 ms, 1 day 408 against
#: 561); longer ones join on the id alone and filter, since a larger table of days costs more than it saves (30
#: days: 711 against 633 ms; 14 days: even).
PAIRED_WINDOW_DAYS = 10


def _clickhouse(src: rollup.Source, d: Dialect, f: Filters, rows: str, paired: bool = False) -> str:
    """ClickHouse's funnel over the rollup's scalar columns, without its arrays (100 M events: 9.5 M upload and 72 M
    run times in a 90-day range, which cost ~200 ms to read). The window's rows come from a join on the id and a
    filter on the day, or, when `paired`, from a join on (id, day) with each install's window days. Per install-day
    row inside the window:
    - the first upload in it: on the day of the first start `t0`, the row's first upload at or after its own start
      (`first_upload_after_start`), exact unless an upload of the row lies in [t0, its start) (`unsure`); on a
      later day, the row's first upload (`first_upload`), when before the window's end `e`;
    - a run in [t1, e) exists when the latest run before `e` of a row ending before `e` (`a`) is at or after t1, or
      when the first run of a row that straddles `e` (`b`, the window's last day) is; when neither and a straddling
      row's first run is before t1 (t1 then falls on the window's last day), its hours with a run (`hours`) say
      it when one lies strictly between t1's and e's, or when neither of those two has one; otherwise only its
      runs can say.
    Installs that neither decides come back as `undecided` (with the day of their first start) for `settle` to
    count from the arrays (100 M events: none with a 7-day window, 392 of 28,506 with a 1-day one).
    Every install that started has a row in `x`, the one of its first start, so `x` counts them too (ClickHouse
    would compute `s` a second time for a `count()` of it)."""
    w = f.window_days
    end = f"t0 + INTERVAL {w} DAY"
    join = (f"JOIN (SELECT id, t0, toDate(t0) + k AS day FROM s ARRAY JOIN range({w + 1}) AS k) AS wd USING (id, day)"
            if paired else "JOIN s USING (id)")
    return f"""
        WITH s AS (SELECT id, assumeNotNull(min(started)) AS t0 FROM {src.table}
                   {where(f, d, "own", "started IS NOT NULL", by_day=True)} GROUP BY id),
        x AS (SELECT id, toDate(any(t0)) AS d0,
                     minIf(if(day = toDate(t0), first_upload_after_start, first_upload) AS u, u < {end}) AS t1,
                     countIf(day = toDate(t0) AND last_upload_before_start >= t0) > 0 AS unsure,
                     maxIf(last_run, last_run < {end}) AS a,
                     maxIf(first_run, first_run < {end} AND last_run >= {end}) AS b,
                     groupBitOrIf(run_hours, first_run < {end} AND last_run >= {end}) AS hours, any({end}) AS e
              FROM {src.table} {join} {rows} GROUP BY id),
        y AS (SELECT id, d0, t1, multiIf(unsure, 1, t1 IS NULL, 0, a >= t1 OR b >= t1, 2, b IS NULL, 0,
                                         bitAnd(hours, {_between('t1', 'e')}) != 0, 2,
                                         bitTest(hours, toHour(t1)) OR bitTest(hours, toHour(e)), 1, 0) AS r
              FROM x)
        SELECT count() AS started, countIf(t1 IS NOT NULL AND r != 1) AS uploaded, countIf(r = 2) AS ran,
               groupArrayIf(id, r = 1) AS undecided, groupArrayIf(toUInt16(d0), r = 1) AS undecided_days
        FROM y{src.settings}"""


def _between(first: str, last: str) -> str:
    """The bits of the hours strictly between those of two times of one day (UInt32)."""
    below_last = f"bitShiftLeft(toUInt32(1), toHour({last})) - 1"
    up_to_first = f"bitShiftLeft(toUInt32(1), toHour({first}) + 1) - 1"
    return f"bitAnd({below_last}, bitNot(toUInt32({up_to_first})))"


#: Installs per query of `settle` (their ids and days are inlined: ClickHouse's query is at most 256 KiB).
UNDECIDED_CHUNK = 4000


def settle(src: rollup.Source, d: Dialect, f: Filters, ids: list[int], days: list[int]) -> str:
    """How many of the `undecided` installs (ids, and the days of their first start as day numbers) uploaded, and
    ran after their first upload, inside their windows: from the arrays of their windows' rows alone, which
    ClickHouse picks out before it reads an array (PREWHERE on (id, day): 4,000 installs, ~30 ms without the
    arrays). Their first start is the earliest in those rows, since none of their earlier rows holds a start."""
    w = f.window_days
    listed = (f"[{', '.join(str(int(i)) for i in ids)}]::Array(UInt64), "
              f"[{', '.join(str(int(day)) for day in days)}]::Array(UInt16)")
    days_of = f"arrayMap((i, d) -> arrayMap(k -> (i, toDate(d) + k), range({w + 1})), {listed})"
    windows = f"arrayJoin(arrayFlatten({days_of}))"
    return f"""
        SELECT count(t1) AS uploaded, countIf(t1 IS NOT NULL AND arrayExists(r -> r >= t1, rs)) AS ran FROM (
            SELECT id, assumeNotNull(min(started)) AS t0, t0 + INTERVAL {w} DAY AS e,
                   arrayFilter(u -> u >= t0 AND u < e, groupArrayArray(uploads)) AS us,
                   if(empty(us), NULL, arrayMin(us)) AS t1, arrayFilter(r -> r < e, groupArrayArray(runs)) AS rs
            FROM {src.table} PREWHERE (id, day) IN (SELECT p.1, p.2 FROM (SELECT {windows} AS p))
            {where(f, d, "own", by_day=True)} GROUP BY id){src.settings}"""
