"""The in-memory daily rollup behind the distinct-install panels: same answers as the raw events, kept fresh."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from blindai_telemetry.dashboard import queries, rollup
from blindai_telemetry.dashboard.filters import Filters
from blindai_telemetry.stores import Store

from .conftest import open_duckdb
from .dataset import _ms
from .test_clickhouse import FILTERS, _rounded


@pytest.mark.parametrize("panel", ["active_installs", "modes", "versions", "platforms", "hardware", "retention",
                                   "events", "performance", "model_sizes", "uptime"])
@pytest.mark.parametrize("name", list(FILTERS))
def test_rollup_answers_like_the_raw_events(duck: Store, monkeypatch: pytest.MonkeyPatch, panel: str,
                                             name: str) -> None:
    query = queries.PANELS[panel].query
    assert rollup.table_for(duck, wait=True) is not None  # the DuckDB store does use the rollup
    with_rollup = query(duck, FILTERS[name])
    monkeypatch.setattr(rollup, "table_for", lambda store: None)
    from_events = query(duck, FILTERS[name])
    assert with_rollup.rows  # not a comparison of empty tables
    assert _rounded(with_rollup.rows) == _rounded(from_events.rows)


def _event(install: str, day: date, event: str = "server_started", **extra: Any) -> dict[str, Any]:
    ms = _ms(day, 3600)
    return {"event_id": str(uuid.uuid4()), "event": event, "time": ms, "received_at": int(time.time() * 1000),
            "install_id": install, "mode": "hardware", "app": "blindai-server", "app_version": "0.6.3",
            "is_ci": False, "source": "native", **extra}


def _eventually(read: Callable[[], Any], expected: Any, timeout: float = 10.0) -> None:
    """Poll until `read()` equals `expected` (the rollup checks for new events at most once a second)."""
    deadline = time.monotonic() + timeout
    while (got := read()) != expected:
        assert time.monotonic() < deadline, f"still {got!r}, expected {expected!r}"
        time.sleep(0.1)


def test_new_events_and_deletions_reach_the_rollup(tmp_path: Path) -> None:
    path = tmp_path / "fresh.duckdb"
    store = open_duckdb(path)
    try:
        monday = date(2026, 6, 1)
        store.write([_event("a", monday), _event("b", monday)])

        def daily() -> list[list[Any]]:
            return queries.active_installs(store, Filters()).rows

        assert daily() == [["2026-06-01", 2, 0]]  # from the events, while the rollup is built
        assert rollup.table_for(store, wait=True) is not None
        assert daily() == [["2026-06-01", 2, 0]]  # from the rollup
        # A new install on the same day, and a new day: both days are rebuilt.
        store.write([_event("c", monday), _event("a", date(2026, 6, 2), "model_run", client_install_id="k")])
        _eventually(daily, [["2026-06-01", 3, 0], ["2026-06-02", 1, 1]])
        # Deleting an install (and the client ids naming it) takes it out of every day it was in.
        store.delete_installs(["a", "k"])
        _eventually(daily, [["2026-06-01", 2, 0]])
        # ... and the rollup forgot their numbers: only b and c are left.
        assert store.fetch("SELECT count(*) AS n FROM blindai_dashboard.install_numbers")[0]["n"] == 2
    finally:
        store.close()
    # The rollup lived in memory: nothing of it was written to the store's file.
    with duckdb.connect(str(path)) as conn:
        tables = {t for (t,) in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "events" in tables and "install_days" not in tables


def _raw_summary(store: Store) -> dict[str, Any]:
    return {**store.summary(), "seeded": queries.seeded_count(store)}


def test_the_summary_from_the_rollup_equals_the_raw_counts(duck: Store) -> None:
    assert rollup.table_for(duck, wait=True) is not None  # so the summary counts installs from the rollup
    got = queries.summary(duck)
    assert got == _raw_summary(duck)
    assert got["installs"] > got["servers"] > 0 and got["clients"] > 0 and got["seeded"] > 0


def test_the_summary_counts_what_is_stored_at_once_not_a_second_later(tmp_path: Path) -> None:
    store = open_duckdb(tmp_path / "summary.duckdb")
    try:
        monday = date(2026, 6, 1)
        store.write([_event("a", monday), _event("b", monday, source="seed")])
        assert rollup.table_for(store, wait=True) is not None
        assert queries.summary(store) == _raw_summary(store)
        # Written and deleted right after a check: the panels may lag by up to a second, the summary may not.
        store.write([_event("c", monday), _event("a", date(2026, 6, 2), "model_run", client_install_id="k", mode=None)])
        after_write = queries.summary(store)
        assert after_write == _raw_summary(store)
        assert (after_write["installs"], after_write["servers"], after_write["clients"]) == (3, 3, 1)
        store.delete_installs(["a", "k"])
        assert queries.summary(store) == _raw_summary(store) | {"installs": 2, "clients": 0}
        store.delete_installs(["b", "c"])
        assert queries.summary(store) == {"events": 0, "installs": 0, "servers": 0, "clients": 0, "seeded": 0}
    finally:
        store.close()


def test_the_rollup_checks_the_events_only_after_the_store_changed(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_duckdb(tmp_path / "changes.duckdb")
    try:
        monday = date(2026, 6, 1)
        store.write([_event("a", monday)])
        assert rollup.table_for(store, wait=True) is not None
        checks: list[int] = []
        signature = rollup.Rollup._signature
        monkeypatch.setattr(rollup.Rollup, "_signature", lambda self: checks.append(1) or signature(self))
        queries.summary(store)
        assert queries.summary(store)["installs"] == 1 and checks == []  # nothing written: no scan of the events
        store.write([_event("b", monday)])
        assert queries.summary(store)["installs"] == 2 and checks == [1]  # written: checked, and seen at once
        store.delete_installs(["a"])
        assert queries.summary(store)["installs"] == 1 and checks == [1, 1]
    finally:
        store.close()
