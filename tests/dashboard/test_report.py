"""`blindai-telemetry report`: the dashboard's figures in a terminal, from a DuckDB file or a live collector."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from blindai_telemetry.cli.main import cli
from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.dashboard import queries, rollup
from blindai_telemetry.dashboard.filters import Filters

from . import dataset
from .conftest import LiveServer, build_app, open_duckdb


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    today = datetime.now(timezone.utc).date()
    return dataset.fleet(today - timedelta(days=20), days=21, seed=3)


@pytest.fixture(scope="module")
def db_file(tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]]) -> Path:
    """A DuckDB file with the fleet, closed: `report --db` opens it as an operator would."""
    path = tmp_path_factory.mktemp("report") / "events.duckdb"
    store = open_duckdb(path)
    store.write(rows)
    store.close()
    return path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]]) -> Iterator[LiveServer]:
    """A collector over ANOTHER file with the same rows (a DuckDB file is owned by one process)."""
    store = open_duckdb(tmp_path_factory.mktemp("report-live") / "events.duckdb")
    store.write(rows)
    server = LiveServer(build_app(store, CollectorSettings(host="0.0.0.0", admin_token="report-token")))
    yield server
    server.stop()
    store.close()


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)


def test_json_from_a_duckdb_file_has_the_dashboards_figures(db_file: Path, rows: list[dict[str, Any]]) -> None:
    result = _run("--db", str(db_file), "--json", "--days", "30", "--granularity", "day")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["summary"]["events"] == len(rows)
    assert out["summary"]["seeded"] == sum(1 for r in rows if r["source"] == "seed")
    visible = dataset.visible(rows)
    assert {(p, e): n for p, e, n in out["panels"]["events"]["rows"]} == dataset.event_counts(visible)
    daily = dataset.daily_installs(visible)
    assert {p: (s, c) for p, s, c in out["panels"]["active_installs"]["rows"]} == daily
    store = open_duckdb(db_file)
    try:
        # The funnel is read from the rollup: built first, not closed under its builder's feet (a DuckDB
        # connection refuses to close while another thread's query runs on it).
        assert rollup.table_for(store, wait=True) is not None
        today = datetime.now(timezone.utc).date()
        f = Filters(start=today - timedelta(days=29), end=today)
        assert out["panels"]["funnel"]["rows"] == queries.funnel(store, f).rows
        assert out["panels"]["performance_by_mode"]["rows"] == queries.performance(store, f, "mode").rows
    finally:
        store.close()


def test_the_collectors_api_and_the_file_give_the_same_report(db_file: Path, live: LiveServer) -> None:
    from_file = json.loads(_run("--db", str(db_file), "--json").output)
    from_api = _run("--url", live.url, "--token", "report-token", "--json")
    assert from_api.exit_code == 0, from_api.output
    assert json.loads(from_api.output)["panels"] == from_file["panels"]


def test_tables_for_people(db_file: Path, rows: list[dict[str, Any]]) -> None:
    result = _run("--db", str(db_file), "--days", "30")
    assert result.exit_code == 0, result.output
    for title in ("Active installs", "Events by type", "Servers by mode", "Version adoption", "Platforms",
                  "Request performance by mode (ms)", "Funnel"):
        assert title in result.output
    runs = sum(1 for r in dataset.visible(rows) if r["event"] == "model_run")
    # The "Events by type" table has one line per event with its total over the range.
    assert re.search(rf"^  model_run +{runs:,}$", result.output, re.MULTILINE)
    assert f"{len(rows):,}" in result.output
    assert "seeded" in result.output


def test_a_collector_that_needs_a_token_says_so(live: LiveServer) -> None:
    result = _run("--url", live.url)
    assert result.exit_code == 1
    assert "admin token" in result.output and "BLINDAI_TELEMETRY_ADMIN_TOKEN" in result.output


def test_an_unreachable_collector_is_a_clear_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    result = _run("--url", f"http://127.0.0.1:{port}", "--timeout", "5")
    assert result.exit_code == 1
    assert "cannot reach the collector" in result.output and str(port) in result.output


def test_sources_exclude_each_other(db_file: Path) -> None:
    result = _run("--db", str(db_file), "--url", "http://127.0.0.1:1")
    assert result.exit_code == 2
    assert "exclude each other" in result.output


def test_control_characters_in_a_store_never_reach_the_terminal(tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    """A store another writer filled (an older collector) may hold escape sequences: `report` prints them inert."""
    hostile = "0.6.3\x1b]0;pwned\x07\x1b[2J\u202e"
    path = tmp_path / "events.duckdb"
    store = open_duckdb(path)
    store.write([{**r, "app_version": hostile} for r in rows[:50]])
    store.close()
    result = _run("--db", str(path), "--days", "30")
    assert result.exit_code == 0, result.output
    assert "0.6.3" in result.output  # the version is there...
    found = re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", result.output)
    assert found is None, repr(result.output[max(0, found.start() - 80):found.end() + 40])  # nothing acts on a tty


def test_the_current_period_is_marked_partial(db_file: Path) -> None:
    """Today's figures are a day still filling: the report marks the period rather than show a drop."""
    today = datetime.now(timezone.utc).date()
    out = json.loads(_run("--db", str(db_file), "--json", "--days", "7", "--granularity", "day").output)
    assert out["panels"]["active_installs"]["partial_periods"] == [today.isoformat()]
    assert out["panels"]["performance_by_mode"]["partial_periods"] == []
    text = _run("--db", str(db_file), "--days", "7", "--granularity", "day").output
    assert re.search(rf"^  {today.isoformat()} \* ", text, re.MULTILINE)  # active installs, today's row
    assert not re.search(rf"^  {(today - timedelta(days=1)).isoformat()} \*", text, re.MULTILINE)
    assert "partial period" in text
