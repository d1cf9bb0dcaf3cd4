"""The same panel queries over ClickHouse (chDB, in-process) answer exactly what DuckDB answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from blindai_telemetry.dashboard import queries
from blindai_telemetry.dashboard.filters import Filters
from blindai_telemetry.stores import Store

from .test_funnel_retention import _rows as funnel_rows


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory, fleet_rows: list[dict[str, Any]]) -> Iterator[Store]:
    from blindai_telemetry.stores.clickhouse import ClickHouseStore

    store = ClickHouseStore.from_chdb(str(tmp_path_factory.mktemp("chdb-dashboard")), database="dashboard")
    store.write(fleet_rows)
    store.write(funnel_rows())
    yield store
    store.close()


@pytest.fixture(scope="module")
def duck_all(duck: Store) -> Store:
    """The DuckDB store holding the same rows as the ClickHouse one (the fleet, then the funnel scenario)."""
    duck.write(funnel_rows())
    return duck


FILTERS = {
    "defaults": Filters(),
    "week, CI included": Filters(granularity="week", include_ci=True),
    "month": Filters(granularity="month"),
    "range": Filters(start=date(2026, 1, 12), end=date(2026, 1, 25)),
    "app and version": Filters(app="blindai-server", app_version="0.6.3"),
    "mode": Filters(mode="simulation", window_days=14),
}


def _rounded(rows: list[list[Any]]) -> list[list[Any]]:
    # Interpolated quantiles come out of two engines' float arithmetic: equal to 9 significant digits.
    return [[float(f"{v:.9g}") if isinstance(v, float) else v for v in row] for row in rows]


@pytest.mark.parametrize("panel", list(queries.PANELS))
@pytest.mark.parametrize("name", list(FILTERS))
def test_clickhouse_answers_every_panel_like_duckdb(clickhouse: Store, duck_all: Store, panel: str, name: str) -> None:
    query = queries.PANELS[panel].query
    on_duck, on_clickhouse = query(duck_all, FILTERS[name]), query(clickhouse, FILTERS[name])
    assert on_clickhouse.columns == on_duck.columns
    assert _rounded(on_clickhouse.rows) == _rounded(on_duck.rows)
    assert on_duck.rows  # the comparison is not of empty tables


@pytest.mark.parametrize("by", ["time", "version", "mode"])
def test_performance_by_every_key_matches(clickhouse: Store, duck_all: Store, by: str) -> None:
    f = Filters(granularity="week")
    assert _rounded(queries.performance(clickhouse, f, by).rows) == _rounded(queries.performance(duck_all, f, by).rows)


def test_options_and_summary_match(clickhouse: Store, duck_all: Store) -> None:
    assert queries.options(clickhouse) == queries.options(duck_all)
    assert queries.seeded_count(clickhouse) == queries.seeded_count(duck_all) > 0
    # The summary: ClickHouse's from its rollup and its events, DuckDB's from its own rollup, and both as the raw
    # counts say.
    on_clickhouse = queries.summary(clickhouse)
    assert on_clickhouse == queries.summary(duck_all) == {**clickhouse.summary(), "seeded": on_clickhouse["seeded"]}


def test_both_stores_export_the_same_file(clickhouse: Store, duck_all: Store, tmp_path: Path) -> None:
    """`blindai-telemetry export` (and the collector's /api/v1/export) write one schema whichever the store."""
    import pyarrow.parquet as pq

    from blindai_telemetry.dashboard import export

    for store, name in ((clickhouse, "ch.parquet"), (duck_all, "duck.parquet")):
        assert export.export(store, tmp_path / name, "parquet", date(2026, 1, 12), date(2026, 1, 25)) > 0
    on_clickhouse, on_duck = pq.read_table(tmp_path / "ch.parquet"), pq.read_table(tmp_path / "duck.parquet")
    assert on_clickhouse.schema == on_duck.schema
    # The same rows; the order is by (time, event_id), which both engines sort alike.
    assert on_clickhouse.to_pylist() == on_duck.to_pylist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ch.parquet", "duck.parquet"]  # no temporary left
