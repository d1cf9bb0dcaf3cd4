"""The dashboard's rollups over every SQL store (DuckDB in memory, ClickHouse's tables fed by materialized
views): after writes, deletions and retention, the panels read from them equal the panels read from the events."""

from __future__ import annotations

import random
import time
from datetime import date
from typing import Any

import pytest

from blindai_telemetry.dashboard import funnel_sql, queries, rollup
from blindai_telemetry.dashboard.filters import Filters
from blindai_telemetry.stores import Store, _arrow, clickhouse_rollups

from .conftest import StoreFactory, make_row

DAY = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
PANELS = ("active_installs", "versions", "modes", "platforms", "hardware", "retention", "funnel", "events",
          "performance", "model_sizes", "uptime")


@pytest.fixture
def sql_store(store_factory: tuple[str, StoreFactory]) -> Store:
    kind, make = store_factory
    if kind == "memory":
        pytest.skip("InMemoryStore has no SQL and no rollup")
    return make()


def _answers(store: Store, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every rollup panel, the summary and the filters' options, read from the rollup, then from the events."""
    assert rollup.table_for(store, wait=True, now=True) is not None
    from_rollup = _panel_answers(store)
    with monkeypatch.context() as m:
        m.setattr(rollup, "table_for", lambda *a, **k: None)
        raw = _panel_answers(store)
    return from_rollup, raw


def _panel_answers(store: Store) -> dict[str, Any]:
    f = Filters(include_ci=True)
    return ({p: queries.PANELS[p].query(store, f).rows for p in PANELS}
            | {f"performance by {by}": queries.performance(store, f, by).rows for by in ("version", "mode")}
            | {"summary": queries.summary(store), "options": queries.options(store),
               "seeded": queries.seeded_days(store)})


def test_rollups_follow_writes_deletions_and_retention(sql_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store = sql_store
    store.write([
        make_row(install_id="s1", time=T0 + 3_600_000, client_install_id="c1", arch="AMD64", source="seed"),
        make_row(install_id="s1", time=T0 + DAY + 3_600_000, client_install_id="c2", arch="x86_64",
                 event="model_uploaded", model_size_bytes=3_000_000, duration_ms=812.5),
        make_row(install_id="s2", time=T0 + DAY + 1_000, client_install_id="c1", mode="hardware", arch="aarch64"),
        make_row(install_id="c1", time=T0 + 2 * DAY, mode=None, app="blindai-client", client_install_id=None,
                 cpu_count=None, memory_gb=None, arch="arm64"),
        make_row(install_id="s2", time=T0 + DAY + 2_000, client_install_id=None, event="server_stopped",
                 uptime_s=600.0, duration_ms=None, mode="hardware", arch="aarch64"),
    ])
    from_rollup, raw = _answers(store, monkeypatch)
    assert from_rollup == raw
    assert [r[1:] for r in from_rollup["active_installs"]] == [[1, 1], [2, 2], [0, 1]]
    assert ["10–60 min", 1] in from_rollup["uptime"]  # 600 s: the bucket from 600 s on
    assert ["arch", "x86_64", 1] in from_rollup["platforms"] and ["arch", "arm64", 2] in from_rollup["platforms"]
    assert [r[1:3] for r in from_rollup["performance"]] == [["model_run", 1], ["model_run", 1], ["model_uploaded", 1],
                                                            ["model_run", 1]]
    assert from_rollup["summary"]["events"] == 5 and from_rollup["summary"]["seeded"] == 1

    # A deletion request: c1 goes, as an install and as the client that s1's and s2's events named.
    store.delete_installs(["c1"])
    from_rollup, raw = _answers(store, monkeypatch)
    assert from_rollup == raw
    assert [r[1:] for r in from_rollup["active_installs"]] == [[1, 0], [2, 1]]

    # Retention to the middle of the second day: s2's early event goes, s1's later one stays on that day.
    assert store.delete_older_than(T0 + DAY + 1_800_000) == 3
    from_rollup, raw = _answers(store, monkeypatch)
    assert from_rollup == raw
    assert [r[1:] for r in from_rollup["active_installs"]] == [[1, 1]]
    assert from_rollup["summary"]["installs"] == 1
    assert from_rollup["summary"]["events"] == 1 and from_rollup["seeded"]["seeded_first_day"] is None
    assert [r[1:3] for r in from_rollup["performance"]] == [["model_uploaded", 1]]


_NEWER_COLUMNS = [*clickhouse_rollups.UPLOAD_BOUNDS_COLUMNS, *clickhouse_rollups.RUN_HOURS_COLUMNS]
_DROP_UPLOAD_BOUNDS = "ALTER TABLE install_days " + ", ".join(f"DROP COLUMN {name}" for name in _NEWER_COLUMNS)
OLDER_STORES = {
    "before the rollup": ("DROP VIEW install_days_own", "DROP VIEW install_days_clients", "DROP TABLE install_days"),
    # Issue 15's rollup, without the funnel's columns.
    "before the funnel's columns": ("DROP VIEW install_days_own", "DROP VIEW install_days_clients",
                                    _DROP_UPLOAD_BOUNDS,
                                    "ALTER TABLE install_days DROP COLUMN first_run, DROP COLUMN last_run",
                                    "ALTER TABLE install_days DROP COLUMN started, DROP COLUMN uploads, "
                                    "DROP COLUMN runs"),
    # Issue 15's funnel columns, without the first and last run (the views as they were: naming neither).
    "before the run bounds": ("DROP VIEW install_days_own", "DROP VIEW install_days_clients",
                              "ALTER TABLE install_days DROP COLUMN first_run, DROP COLUMN last_run",
                              *(f"CREATE MATERIALIZED VIEW install_days_{n} TO install_days AS "
                                + clickhouse_rollups._select(own).replace(f", {clickhouse_rollups.BOUNDS[own]}", "")
                                for n, own in (("own", True), ("clients", False)))),
    # Without the upload bounds and the run hours (the views never named them).
    "before the upload bounds": (_DROP_UPLOAD_BOUNDS,),
    "before the events' projection": ("ALTER TABLE events DROP PROJECTION event_days",
                                      "ALTER TABLE events RESET SETTING deduplicate_merge_projection_mode, "
                                      "lightweight_mutation_projection_mode"),
    # Sorted by day first, as before the rows were sorted by own and is_ci: remade and filled from the events.
    "sorted by day first": ("DROP VIEW install_days_own", "DROP VIEW install_days_clients", "DROP TABLE install_days",
                            *(statement.replace(", ".join(clickhouse_rollups.SORT_KEY),
                                                ", ".join(clickhouse_rollups._KEYS))
                              for statement in clickhouse_rollups.schema(lambda kind, table: kind))),
    "before install_days' projections": ("ALTER TABLE install_days DROP PROJECTION by_install",
                                         "ALTER TABLE install_days DROP PROJECTION distinct_ids",
                                         "ALTER TABLE install_days RESET SETTING deduplicate_merge_projection_mode"),
}


@pytest.mark.parametrize("older", list(OLDER_STORES))
def test_a_clickhouse_store_from_before_the_rollup_gets_it_filled_at_start(
    store_factory: tuple[str, StoreFactory], monkeypatch: pytest.MonkeyPatch, older: str,
) -> None:
    kind, make = store_factory
    if kind not in ("chdb", "clickhouse-http"):
        pytest.skip("ClickHouse keeps its rollup in tables; DuckDB's is rebuilt in memory at each start")
    store = make()
    store.write([make_row(install_id="old", time=T0, client_install_id="its-client", event="server_started"),
                 make_row(install_id="old", time=T0 + DAY, client_install_id=None, event="model_uploaded")])
    client = store._client  # type: ignore[attr-defined]
    for statement in OLDER_STORES[older]:
        client.command(statement)  # as an older version left the store
    store.close()
    store = make()
    _wait_for_mutations(store)
    made = dict(store._client.query("SELECT name, create_table_query FROM system.tables "  # type: ignore[attr-defined]
                                    "WHERE database = currentDatabase()").result_rows)
    assert "PROJECTION event_days" in made["events"]
    assert "PROJECTION by_install" in made["install_days"] and "PROJECTION distinct_ids" in made["install_days"]
    assert f"ORDER BY ({', '.join(clickhouse_rollups.SORT_KEY)})" in made["install_days"]
    _read_through_the_projection(store, monkeypatch)
    from_rollup, raw = _answers(store, monkeypatch)
    assert from_rollup == raw and [r[1:] for r in from_rollup["active_installs"]] == [[1, 1], [1, 0]]
    assert [n for _, n, _, _ in from_rollup["funnel"]] == [1, 1, 0]
    # ... and the views are back for new events.
    store.write([make_row(install_id="new", time=T0 + DAY, client_install_id=None)])
    assert [r[1:] for r in _answers(store, monkeypatch)[0]["active_installs"]] == [[1, 1], [2, 0]]


def _wait_for_mutations(store: Store) -> None:
    client = store._client  # type: ignore[attr-defined]
    for _ in range(600):
        if not client.query("SELECT count() FROM system.mutations WHERE database = currentDatabase() "
                            "AND NOT is_done").result_rows[0][0]:
            return
        time.sleep(0.1)
    raise AssertionError("the projection's MATERIALIZE did not finish")


def _read_through_the_projection(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every dashboard query over `events` without FINAL runs with force_optimize_projection: ClickHouse fails
    it if it cannot answer from the `event_days` projection (a query spelled differently would scan the events)."""
    seen: list[str] = []
    fetch = store.fetch
    with monkeypatch.context() as m:
        m.setattr(store, "fetch", lambda sql, params=(): seen.append(sql) or fetch(sql, params))
        _panel_answers(store)
    reads = [sql for sql in seen if "FROM events" in sql and "final = 0" in sql]
    assert len(reads) >= 7  # events, performance (3), model sizes, uptime, summary, options (2), seeded days
    # ... and the distinct installs per period from install_days' `distinct_ids` states (active installs, versions).
    distinct = [sql for sql in seen if "uniqExact(id) AS n" in sql or "uniqExact(id) AS installs" in sql]
    assert len(distinct) == 2
    reads += distinct
    for sql in reads:
        store._client.query(f"{sql}, force_optimize_projection = 1")  # type: ignore[attr-defined]


def test_the_events_projection_counts_a_raced_duplicate_until_the_merge_and_follows_deletions(
    store_factory: tuple[str, StoreFactory], monkeypatch: pytest.MonkeyPatch,
) -> None:
    kind, make = store_factory
    if kind not in ("chdb", "clickhouse-http"):
        pytest.skip("a ClickHouse projection")
    store = make()
    row = make_row(install_id="s1", time=T0, event="model_run", duration_ms=40.0)
    store.write([row, make_row(install_id="s2", time=T0 + DAY)])
    _read_through_the_projection(store, monkeypatch)
    # Two collectors racing on one event: both looked it up before either inserted (what write() does, twice).
    store._client.insert_arrow("events", _arrow.to_table([row]))  # type: ignore[attr-defined]
    summary = queries.summary
    assert summary(store)["events"] == 3  # counted twice until the parts merge ...
    store._client.command("OPTIMIZE TABLE events FINAL")  # type: ignore[attr-defined]
    from_rollup, raw = _answers(store, monkeypatch)
    assert from_rollup == raw and from_rollup["summary"]["events"] == 2  # ... and once after
    store.delete_installs(["s1"])
    from_rollup, raw = _answers(store, monkeypatch)
    assert from_rollup == raw and from_rollup["summary"]["events"] == 1
    assert [r[:3] for r in from_rollup["performance"]] == [["2026-01-02", "model_run", 1]]  # s2's run only


H = 3_600_000


def _step(install: str, event: str, ms: int, **overrides: Any) -> dict[str, Any]:
    return make_row(install_id=install, event=event, time=T0 + ms, received_at=T0 + ms, client_install_id=None,
                    **overrides)


def _funnels(store: Store, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], dict[str, Any]]:
    """The funnel under several filters and windows, read from the rollup, then from the events."""
    cases = {f"{w} days": Filters(include_ci=True, window_days=w) for w in (1, 7, 8)} | {
        "from day 1": Filters(start=date(2026, 1, 2)), "version": Filters(app_version="0.6.3"),
        "mode": Filters(mode="hardware", window_days=3), "to day 7": Filters(end=date(2026, 1, 8))}
    assert rollup.table_for(store, wait=True, now=True) is not None
    from_rollup = {name: queries.funnel(store, f).rows for name, f in cases.items()}
    with monkeypatch.context() as m:
        m.setattr(rollup, "table_for", lambda *a, **k: None)
        raw = {name: queries.funnel(store, f).rows for name, f in cases.items()}
    return from_rollup, raw


def test_the_funnel_from_the_rollups_is_the_funnel_of_the_events_to_the_millisecond(
    sql_store: Store, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = sql_store
    store.write([
        # a: an upload before its start (not in the window), a run before its first upload in it, a run 1 ms before
        # the 7-day window closes.
        _step("a", "model_uploaded", 9 * H), _step("a", "server_started", 10 * H),
        _step("a", "model_run", 10 * H + 1_800_000), _step("a", "model_uploaded", 11 * H),
        _step("a", "model_run", 7 * DAY + 10 * H - 1),
        # b and c upload on the window's last, partial day; b runs before it closes, c exactly when it closes.
        _step("b", "server_started", 10 * H), _step("b", "model_uploaded", 7 * DAY + 9 * H),
        _step("b", "model_run", 7 * DAY + 9 * H + 1), _step("b", "model_run", 7 * DAY + 11 * H),
        _step("c", "server_started", 10 * H), _step("c", "model_uploaded", 7 * DAY + 9 * H),
        _step("c", "model_run", 7 * DAY + 10 * H),
        # f and g upload on that last day too, with a run before the upload and one after the window closes
        # (ClickHouse's first and last run of the day cannot say); f also runs in between, g does not.
        *[_step(i, "server_started", 10 * H) for i in "fg"],
        *[_step(i, "model_uploaded", 7 * DAY + 9 * H) for i in "fg"],
        *[_step(i, "model_run", 7 * DAY + ms) for i in "fg" for ms in (8 * H, 11 * H)],
        _step("f", "model_run", 7 * DAY + 9 * H + 30 * 60_000),
        # h: as f, but its upload in a row of another version than its runs.
        _step("h", "server_started", 10 * H), _step("h", "model_uploaded", 7 * DAY + 9 * H, app_version="0.7.0"),
        *[_step("h", "model_run", 7 * DAY + ms) for ms in (8 * H, 9 * H + 30 * 60_000, 11 * H)],
        # i: its first start in one version's row, and an upload before the start of another version's row that
        # day (ClickHouse's upload bounds of that row cannot say whether it falls after the first start).
        _step("i", "server_started", 8 * H), _step("i", "model_uploaded", 9 * H, app_version="0.7.0"),
        _step("i", "server_started", 10 * H, app_version="0.7.0"),
        _step("i", "model_run", 9 * H + 1, app_version="0.7.0"),
        # j: as g, but with a run in an hour strictly between its upload's and the window's end: ClickHouse's hours
        # of the day with a run say it ran (g's say it did not), without its arrays.
        _step("j", "server_started", 10 * H), _step("j", "model_uploaded", 7 * DAY + 6 * H),
        *[_step("j", "model_run", 7 * DAY + ms) for ms in (5 * H, 8 * H, 11 * H)],
        # d: its steps on one day but in rows of two versions.
        _step("d", "server_started", DAY + 12 * H), _step("d", "model_run", DAY + 12 * H + 1, app_version="0.7.0"),
        _step("d", "model_uploaded", DAY + 13 * H, app_version="0.7.0"), _step("d", "model_run", DAY + 14 * H),
        # e: started twice (the first start opens the window), hardware, CI on its last day.
        _step("e", "server_started", 2 * DAY + 8 * H, mode="hardware"),
        _step("e", "server_started", 5 * DAY, mode="hardware"),
        _step("e", "model_uploaded", 9 * DAY + 7 * H, mode="hardware"),
        _step("e", "model_run", 9 * DAY + 7 * H + 1, mode="hardware", is_ci=True),
    ])
    monkeypatch.setattr(funnel_sql, "UNDECIDED_CHUNK", 1)  # ClickHouse: each undecided install settled alone
    settled: list[int] = []
    settle = funnel_sql.settle
    monkeypatch.setattr(funnel_sql, "settle", lambda *a: settled.append(len(a[3])) or settle(*a))
    week = Filters(include_ci=True, window_days=7)
    queries.funnel(store, week)
    if type(store).__name__ == "ClickHouseStore":
        # f and h for a run in the hour of their first upload; d and i for an upload of their first start's day in
        # a row of another version (without a start of its own, or before it)
        assert settled == [1] * 4
    from_rollup, raw = _funnels(store, monkeypatch)
    assert from_rollup == raw
    assert [n for _, n, _, _ in from_rollup["7 days"]] == [10, 10, 8]  # all but c and g ran
    assert [n for _, n, _, _ in from_rollup["8 days"]] == [10, 10, 10]
    assert [n for _, n, _, _ in from_rollup["1 days"]] == [10, 3, 2]  # a, d and i uploaded, d and i ran

    store.delete_installs(["a"])
    from_rollup, raw = _funnels(store, monkeypatch)
    assert from_rollup == raw and [n for _, n, _, _ in from_rollup["7 days"]] == [9, 9, 7]

    # Retention to the middle of day 1: d's and e's starts stay (d's run before its start goes); the others' go.
    assert store.delete_older_than(T0 + DAY + 12 * H) > 0
    from_rollup, raw = _funnels(store, monkeypatch)
    assert from_rollup == raw and [n for _, n, _, _ in from_rollup["7 days"]] == [2, 2, 2]


def test_random_histories_give_the_funnel_of_the_events_before_and_after_merges(
    sql_store: Store, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """300 installs with random starts, uploads and runs over four days, in two versions, written in several
    batches (so that ClickHouse holds partial rows of one install-day until it merges them): the funnel from the
    rollup equals the funnel from the events for every window, before and after the merges, whichever join
    ClickHouse's funnel takes (on (id, day) for short windows, on the id for long ones)."""
    rng = random.Random(15)
    rows = []
    for n in range(300):
        # Times near 10:00 on the first days, so that many windows end in an hour holding an upload and runs.
        for _ in range(rng.randint(1, 16)):
            event = rng.choice(["server_started", "model_uploaded", "model_run", "model_run"])
            ms = rng.randint(0, 3) * DAY + 10 * H + rng.randint(-H, H)
            rows.append(_step(f"r{n}", event, ms, app_version=rng.choice(["0.6.3", "0.7.0"])))
    rng.shuffle(rows)
    for i in range(0, len(rows), 400):
        sql_store.write(rows[i:i + 400])
    for merged in (False, True):
        if merged and hasattr(sql_store, "_client"):
            sql_store._client.command("OPTIMIZE TABLE install_days FINAL")  # type: ignore[attr-defined]
        answers = []
        for skip_rollup, paired_up_to in ((True, 0), (False, 0), (False, funnel_sql.PAIRED_WINDOW_DAYS)):
            with monkeypatch.context() as m:
                m.setattr(funnel_sql, "PAIRED_WINDOW_DAYS", paired_up_to)
                if skip_rollup:
                    m.setattr(rollup, "table_for", lambda *a, **k: None)
                else:
                    assert rollup.table_for(sql_store, wait=True, now=True) is not None
                answers.append({w: queries.funnel(sql_store, Filters(window_days=w)).rows for w in (1, 2, 3, 7)})
        assert answers[0] == answers[1] == answers[2], f"merged={merged}"
        assert 0 < answers[0][2][2][1] < answers[0][2][1][1] < answers[0][2][0][1]  # each step loses installs
