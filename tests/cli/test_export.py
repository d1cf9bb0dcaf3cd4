"""`blindai-telemetry export`: the events table to Parquet/CSV from a DuckDB file or a running collector."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from blindai_telemetry.cli.main import cli
from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.stores import open_store
from reliability.collector_support import Collector, running

DAY_MS = 86_400_000
JAN_5 = int(datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp() * 1000)


def _rows() -> list[dict[str, Any]]:
    """Ten days of events from a server and a client, one CI event, a properties dict."""
    rows = []
    for day in range(10):
        for app, install in (("blindai-server", "server-1"), ("blindai-client", "client-1")):
            rows.append({"event_id": str(uuid.uuid4()), "event": "server_started" if "server" in app else
                         "client_connected", "time": JAN_5 + day * DAY_MS + 3_600_000, "received_at": JAN_5,
                         "install_id": install, "app": app, "app_version": "0.6.3", "is_ci": day == 3,
                         "mode": "simulation" if "server" in app else None, "source": "native"})
    rows.append({**rows[0], "event_id": str(uuid.uuid4()), "event": "model_run", "duration_ms": 12.5,
                 "properties": {"input_bytes_bucket": 4}})
    return rows


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "events.duckdb"
    store = open_store(db=str(path))
    store.write(_rows())
    store.close()
    return path


def _export(*args: str) -> Result:
    return CliRunner().invoke(cli, ["export", *args], catch_exceptions=False)


def test_a_duckdb_file_to_parquet_holds_every_event_as_stored(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "events.parquet"
    result = _export("--db", str(db), "--out", str(out))
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    store = open_store(db=str(db))
    try:
        stored = store.rows(limit=1000)
    finally:
        store.close()
    assert table.num_rows == len(stored) == 21
    assert table.column("event_id").to_pylist() == [r["event_id"] for r in stored]  # oldest first, CI included
    times = [int(t.replace(tzinfo=timezone.utc).timestamp() * 1000) for t in table.column("time").to_pylist()]
    assert times == [r["time"] for r in stored]
    assert '"input_bytes_bucket"' in "".join(p for p in table.column("properties").to_pylist() if p)
    assert "Exported 21 events" in result.output


def test_csv_with_a_range_and_an_app(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "jan.csv"  # the format follows the suffix
    result = _export("--db", str(db), "--out", str(out), "--from", "2026-01-07", "--to", "2026-01-09",
                     "--app", "blindai-client")
    assert result.exit_code == 0, result.output
    table = pa_csv.read_csv(out)
    assert table.column("app").to_pylist() == ["blindai-client"] * 3
    assert [t.day for t in table.column("time").to_pylist()] == [7, 8, 9]


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "xlsx"], "unknown format 'xlsx'"),
    (["--from", "2026-01-09", "--to", "2026-01-07"], "--from must not be after --to"),
    (["--from", "last tuesday"], "--from must be a day as YYYY-MM-DD"),
    (["--app", "x'; DROP TABLE events"], "app must match"),
])
def test_bad_input_is_one_line_exit_2_and_no_file(db: Path, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "events.parquet"
    result = _export("--db", str(db), "--out", str(out), *args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"Error: {result.output.strip()[7:]}"]
    assert message in result.output
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one


def test_a_file_another_process_holds_is_one_line_pointing_at_url(
        db: Path, tmp_path: Path, duckdb_held_elsewhere: Callable[[Path], AbstractContextManager[None]]) -> None:
    with duckdb_held_elsewhere(db):
        result = _export("--db", str(db), "--out", str(tmp_path / "events.parquet"))
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "--url" in result.output
    assert list(tmp_path.iterdir()) == []


def test_one_source_is_required(tmp_path: Path) -> None:
    result = _export("--out", str(tmp_path / "x.parquet"))
    assert result.exit_code == 2 and "--db PATH or --url URL" in result.output


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    """The collector app over a DuckDB store, in uvicorn on a free 127.0.0.1 port, with an admin token."""
    store = open_store(db=str(tmp_path / "live.duckdb"))
    store.write(_rows())
    try:
        with running(store, CollectorSettings(admin_token="export-token", retention_days=3650)) as live:
            yield live
    finally:
        store.close()


def test_a_running_collector_exports_what_the_file_would(collector: Collector, db: Path, tmp_path: Path) -> None:
    via_url, via_file = tmp_path / "url.csv", tmp_path / "file.csv"
    args = ("--from", "2026-01-06", "--to", "2026-01-12", "--format", "csv")
    result = _export("--url", collector.url, "--token", "export-token", "--out", str(via_url), *args)
    assert result.exit_code == 0, result.output
    assert _export("--db", str(db), "--out", str(via_file), *args).exit_code == 0
    got, expected = pa_csv.read_csv(via_url), pa_csv.read_csv(via_file)
    assert got.num_rows == 14  # 7 days of a server and a client, CI included
    # The same rows (each store made its own event ids), in both files.
    def rows(table: Any) -> list[Any]:
        return sorted(sorted(r.items()) for r in table.drop(["event_id"]).to_pylist())

    assert rows(got) == rows(expected)


def test_the_export_endpoint_refuses_bad_days_with_422(collector: Collector) -> None:
    import httpx

    auth = {"Authorization": "Bearer export-token"}
    for params in ({"from": "0001-01-01"}, {"from": "2026-01-09", "to": "2026-01-07"}, {"format": "xlsx"}):
        response = httpx.get(f"{collector.url}/api/v1/export", params=params, headers=auth, timeout=30)
        assert response.status_code == 422, (params, response.text)


def test_a_collector_needs_the_admin_token_and_keeps_no_partial_file(collector: Collector, tmp_path: Path) -> None:
    out = tmp_path / "events.parquet"
    result = _export("--url", collector.url, "--token", "wrong", "--out", str(out))
    assert result.exit_code == 1 and "admin token" in result.output
    bad = _export("--url", collector.url, "--token", "export-token", "--out", str(out), "--app", "-x")
    assert bad.exit_code == 2
    assert not out.exists() and not any(p.name.endswith(".partial") for p in tmp_path.iterdir())
