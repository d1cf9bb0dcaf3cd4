"""Platforms and hardware count each install under the value it reported last, however far back that was: ClickHouse
reads the range's last week first, and an install's older rows only when that week did not say everything."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from blindai_telemetry.dashboard import latest_sql, queries
from blindai_telemetry.dashboard.filters import Filters
from blindai_telemetry.stores import Store

from .conftest import open_duckdb
from .dataset import _ms

END = date(2026, 3, 31)


def _event(install: str, days_before_end: int, **context: Any) -> dict[str, Any]:
    ms = _ms(END - timedelta(days=days_before_end), 3600)
    return {"event_id": str(uuid.uuid4()), "event": "server_started", "time": ms, "received_at": ms,
            "install_id": install, "mode": "simulation", "app": "blindai-server", "app_version": "0.6.3",
            "is_ci": False, "source": "native", **context}


def _rows() -> list[dict[str, Any]]:
    return [
        # moved from Linux to Windows in the last week: Windows
        _event("moved", 60, os_name="Linux", arch="x86_64", cpu_count=4),
        _event("moved", 2, os_name="Windows", arch="AMD64", cpu_count=8),
        # silent for the last month: what it said then
        _event("old", 40, os_name="Darwin", arch="arm64", cpu_count=10),
        # its last week said its architecture but not its OS: the OS from an older row
        _event("partial", 50, os_name="Linux", arch="aarch64", cpu_count=2),
        _event("partial", 1, arch="x86_64", cpu_count=16),
        # only in the last week
        _event("new", 0, os_name="Linux", arch="x86_64", cpu_count=8),
    ]


@pytest.fixture(scope="module", params=["duckdb", "chdb"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = Path(tmp_path_factory.mktemp(f"latest-{request.param}"))
    if request.param == "duckdb":
        s: Store = open_duckdb(path / "events.duckdb")
    else:
        from blindai_telemetry.stores.clickhouse import ClickHouseStore

        s = ClickHouseStore.from_chdb(str(path), database="latest")
    s.write(_rows())
    yield s
    s.close()


RANGE = Filters(start=END - timedelta(days=89), end=END)


def test_platforms_take_each_install_under_its_last_value(store: Store) -> None:
    table = queries.platforms(store, RANGE)
    assert [r for r in table.rows if r[0] in ("os", "arch")] == [
        ["arch", "x86_64", 3], ["arch", "arm64", 1], ["os", "Linux", 2], ["os", "Darwin", 1], ["os", "Windows", 1]]


def test_hardware_takes_each_install_under_its_last_value(store: Store) -> None:
    assert queries.hardware(store, RANGE).rows == [
        ["cpu_count", 8, 2], ["cpu_count", 10, 1], ["cpu_count", 16, 1]]


def test_a_range_ending_before_the_last_week_reads_what_it_holds(store: Store) -> None:
    # Ending 3 days before the data's end: "moved" reported Linux last, "new" is not in it.
    table = queries.platforms(store, Filters(start=END - timedelta(days=89), end=END - timedelta(days=3)))
    assert [r for r in table.rows if r[0] == "os"] == [["os", "Linux", 2], ["os", "Darwin", 1]]


def test_clickhouse_reads_the_last_week_first_and_duckdb_needs_not() -> None:
    from blindai_telemetry.dashboard import rollup
    from blindai_telemetry.dashboard.filters import Dialect

    src, f = rollup.Source("install_days", dialect="clickhouse"), RANGE
    condition = latest_sql._recent_first(src, Dialect("clickhouse"), f, "own", ["arch", "os_name"])
    assert condition and "day >= DATE '2026-03-25'" in condition[0]
    assert "count(arch) > 0 AND count(os_name) > 0" in condition[0]
    assert latest_sql._recent_first(src, Dialect("duckdb"), f, "own", ["arch"]) == []
    short = Filters(start=END - timedelta(days=10), end=END)
    assert latest_sql._recent_first(src, Dialect("clickhouse"), short, "own", ["arch"]) == []
