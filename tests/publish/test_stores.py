"""The same report from a DuckDB file, from a collector over DuckDB and from a collector over ClickHouse (chDB):
the aggregates are computed by each engine, the report from them must be byte-identical for the same seed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.stores import Store, open_store
from dashboard.conftest import LiveServer, build_app

from .conftest import Publish, output_text

TOKEN = "publish-test-token"


def _live(store: Store) -> Iterator[LiveServer]:
    server = LiveServer(build_app(store, CollectorSettings(retention_days=3650, admin_token=TOKEN)))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory, fleet: tuple[list[dict[str, Any]], Any]) -> Iterator[Store]:
    from blindai_telemetry.stores.clickhouse import ClickHouseStore

    store = ClickHouseStore.from_chdb(str(tmp_path_factory.mktemp("chdb-publish")), database="publish")
    store.write(fleet[0])
    yield store
    store.close()


@pytest.fixture(scope="module")
def on_clickhouse(clickhouse: Store) -> Iterator[LiveServer]:
    yield from _live(clickhouse)


@pytest.fixture(scope="module")
def on_duckdb(tmp_path_factory: pytest.TempPathFactory,
              fleet: tuple[list[dict[str, Any]], Any]) -> Iterator[LiveServer]:
    store = open_store(db=str(tmp_path_factory.mktemp("collector") / "events.duckdb"))
    store.write(fleet[0])
    yield from _live(store)
    store.close()


def test_duckdb_file_and_collectors_over_duckdb_and_clickhouse_publish_the_same_report(
        publish: Publish, duck_file: Path, on_duckdb: LiveServer, on_clickhouse: LiveServer, tmp_path: Path) -> None:
    sources = {"file": ["--db", str(duck_file)],
               "duckdb": ["--url", on_duckdb.url, "--token", TOKEN],
               "clickhouse": ["--url", on_clickhouse.url, "--token", TOKEN]}
    for name, args in sources.items():
        result = publish(*args, "--out", str(tmp_path / name), "--seed", "same")
        assert result.exit_code == 0, result.output
    reports = {name: output_text(tmp_path / name) for name in sources}
    assert reports["duckdb"] == reports["file"]
    assert reports["clickhouse"] == reports["file"]
    report = json.loads(reports["file"]["report.json"])
    assert report["latency_ms"] and report["weekly_active_installs"] and report["tables"]["os"]


def test_the_aggregates_endpoint_needs_the_admin_token_and_holds_no_id(
        publish: Publish, on_clickhouse: LiveServer, fleet: Any, tmp_path: Path) -> None:
    params = {"from": "2026-01-01", "to": "2026-12-31"}
    assert httpx.get(on_clickhouse.url + "/api/v1/publish/aggregates", params=params).status_code == 401
    answer = httpx.get(on_clickhouse.url + "/api/v1/publish/aggregates", params=params,
                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.json()["installs"] > 0
    assert not any(ident in answer.text for ident in fleet[1].ids)
    result = publish("--url", on_clickhouse.url, "--out", str(tmp_path / "s"))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "admin token" in result.stderr and not (tmp_path / "s").exists()


@pytest.mark.parametrize("params", [{"from": "2026-02-01", "to": "2026-01-01"}, {"from": "x", "to": "2026-01-01"},
                                    {"to": "2026-01-01"}, {"from": "1969-12-31", "to": "2026-01-01"}])
def test_a_bad_period_is_422(on_duckdb: LiveServer, params: dict[str, str]) -> None:
    answer = httpx.get(on_duckdb.url + "/api/v1/publish/aggregates", params=params,
                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 422
