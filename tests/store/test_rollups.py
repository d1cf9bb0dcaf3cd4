"""The dashboard's rollups over every SQL store (DuckDB in memory, ClickHouse's tables fed by materialized
views): after writes, deletions and retention, the panels read from them equal the panels read from the events."""

from __future__ import annotations

from typing import Any

import pytest

from blindai_telemetry.dashboard import queries, rollup
from blindai_telemetry.dashboard.filters import Filters
from blindai_telemetry.stores import Store

from .conftest import StoreFactory, make_row

DAY = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
PANELS = ("active_installs", "versions", "modes", "platforms", "hardware", "retention")


@pytest.fixture
def sql_store(store_factory: tuple[str, StoreFactory]) -> Store:
    kind, make = store_factory
    if kind == "memory":
        pytest.skip("InMemoryStore has no SQL and no rollup")
    return make()


def _answers(store: Store, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every rollup panel, the summary and the filters' options, read from the rollup, then from the events."""
    f = Filters(include_ci=True)
    assert rollup.table_for(store, wait=True, now=True) is not None
    def answers() -> dict[str, Any]:
        return ({p: queries.PANELS[p].query(store, f).rows for p in PANELS}
                | {"summary": queries.summary(store), "options": queries.options(store)})

    from_rollup = answers()
    with monkeypatch.context() as m:
        m.setattr(rollup, "table_for", lambda *a, **k: None)
        raw = answers()
    return from_rollup, raw


def test_rollups_follow_writes_deletions_and_retention(sql_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store = sql_store
    store.write([
        make_row(install_id="s1", time=T0 + 3_600_000, client_install_id="c1", arch="AMD64"),
        make_row(install_id="s1", time=T0 + DAY + 3_600_000, client_install_id="c2", arch="x86_64"),
        make_row(install_id="s2", time=T0 + DAY + 1_000, client_install_id="c1", mode="hardware", arch="aarch64"),
        make_row(install_id="c1", time=T0 + 2 * DAY, mode=None, app="blindai-client", client_install_id=None,
                 cpu_count=None, memory_gb=None, arch="arm64"),
    ])
    from_rollup, raw = _answers(store, monkeypatch)
    assert from_rollup == raw
    assert [r[1:] for r in from_rollup["active_installs"]] == [[1, 1], [2, 2], [0, 1]]
    assert ["arch", "x86_64", 1] in from_rollup["platforms"] and ["arch", "arm64", 2] in from_rollup["platforms"]

    # A deletion request: c1 goes, as an install and as the client that s1's and s2's events named.
    store.delete_installs(["c1"])
    from_rollup, raw = _answers(store, monkeypatch)
    assert from_rollup == raw
    assert [r[1:] for r in from_rollup["active_installs"]] == [[1, 0], [2, 1]]

    # Retention to the middle of the second day: s2's early event goes, s1's later one stays on that day.
    assert store.delete_older_than(T0 + DAY + 1_800_000) == 2
    from_rollup, raw = _answers(store, monkeypatch)
    assert from_rollup == raw
    assert [r[1:] for r in from_rollup["active_installs"]] == [[1, 1]]
    assert from_rollup["summary"]["installs"] == 1


def test_a_clickhouse_store_from_before_the_rollup_gets_it_filled_at_start(
    store_factory: tuple[str, StoreFactory], monkeypatch: pytest.MonkeyPatch,
) -> None:
    kind, make = store_factory
    if kind not in ("chdb", "clickhouse-http"):
        pytest.skip("ClickHouse keeps its rollup in tables; DuckDB's is rebuilt in memory at each start")
    store = make()
    store.write([make_row(install_id="old", time=T0, client_install_id="its-client"),
                 make_row(install_id="old", time=T0 + DAY, client_install_id=None)])
    client = store._client  # type: ignore[attr-defined]
    for statement in ("DROP VIEW install_days_own", "DROP VIEW install_days_clients", "DROP TABLE install_days"):
        client.command(statement)  # as a store made before issue 15 left it
    store.close()
    store = make()
    from_rollup, raw = _answers(store, monkeypatch)
    assert from_rollup == raw and [r[1:] for r in from_rollup["active_installs"]] == [[1, 1], [1, 0]]
    # ... and the views are back for new events.
    store.write([make_row(install_id="new", time=T0 + DAY, client_install_id=None)])
    assert [r[1:] for r in _answers(store, monkeypatch)[0]["active_installs"]] == [[1, 1], [2, 0]]
