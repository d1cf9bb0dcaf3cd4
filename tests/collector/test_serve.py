"""`blindai-telemetry serve`: options, refusal to listen beyond loopback without a token, graceful stop, retention."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from collector_helpers import NOW_MS, batch, event, running, start_serve

from blindai_telemetry.cli.main import cli
from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.collector.validate import check_rows
from blindai_telemetry.stores import DuckDBStore


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com"])
def test_serve_refuses_a_non_loopback_address_without_an_admin_token(host: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", host, "--db", str(tmp_path / "t.duckdb")])
    assert result.exit_code == 2
    assert "--admin-token" in result.output
    assert not (tmp_path / "t.duckdb").exists()


def test_db_and_store_exclude_each_other(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "a"), "--store", "memory://"])
    assert result.exit_code == 2 and "exclude each other" in result.output


def test_an_unusable_store_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--store", "nosuch://x"])
    assert result.exit_code == 1 and "cannot open the store" in result.output


def test_a_port_in_use_fails_before_creating_the_duckdb_file_or_its_key_file(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "t.duckdb"), "--port", str(port)])
    assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in result.output, result.output
    assert list(tmp_path.iterdir()) == []  # no t.duckdb, no t.duckdb.wal, no t.duckdb.model-name-key


def test_a_db_in_a_missing_directory_is_told_so_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "no-such-dir" / "t.duckdb"
    result = CliRunner().invoke(cli, ["serve", "--db", str(db), "--port", "0"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"Error: --db {db}: the directory {db.parent} does not exist (create it, or give another path)"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_in_flight_batches_and_exits_cleanly(tmp_path: Path, sig: int) -> None:
    served = start_serve(tmp_path, "--db", str(tmp_path / "t.duckdb"), "--log-level", "warning")
    acked: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=served.url, timeout=30) as http:
            for _ in range(10_000):  # bounded; ends at the first refused or failed request
                if stop.is_set():
                    return
                events = [event(install_id=f"install-{len(acked) % 7}") for _ in range(50)]
                try:
                    r = http.post("/v1/batch", json=batch(*events))
                except httpx.HTTPError:
                    return
                if r.status_code != 200:
                    return
                acked.extend(e["event_id"] for e in events)

    loader = threading.Thread(target=load)
    loader.start()
    deadline = time.monotonic() + 30
    while len(acked) < 500:
        assert time.monotonic() < deadline and loader.is_alive()
        time.sleep(0.01)
    assert served.stop(sig) == 0
    stop.set()
    loader.join(30)
    err = (tmp_path / "stderr.log").read_text()
    assert "Traceback" not in err
    store = DuckDBStore(tmp_path / "t.duckdb")
    try:
        stored = {r["event_id"] for r in store.fetch("SELECT event_id FROM events")}
    finally:
        store.close()
    assert set(acked) <= stored  # every acknowledged event survived the stop


def test_serve_says_where_its_dashboard_is(tmp_path: Path) -> None:
    served = start_serve(tmp_path, "--db", str(tmp_path / "t.duckdb"))
    try:
        line = next(x for x in (tmp_path / "stderr.log").read_text().splitlines() if x.startswith("Dashboard:"))
        assert line == f"Dashboard: {served.url}/"  # open on loopback without a token: no hint
        assert httpx.get(served.url + "/", timeout=10).status_code == 200
    finally:
        assert served.stop() == 0


def test_retention_deletes_events_older_than_the_limit_at_start(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "t.duckdb")
    try:
        day = 86_400_000
        now = int(time.time() * 1000)
        old, recent = event(time=now - 40 * day), event(time=now - 20 * day)
        rows = check_rows([old, recent], source="native", received_at_ms=NOW_MS, strict=True).rows
        store.write(rows)
        with running(store, CollectorSettings(retention_days=30)) as c, c.client() as http:
            deadline = time.monotonic() + 20
            while store.summary()["events"] != 1:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            assert [r["event_id"] for r in store.rows()] == [recent["event_id"]]
            assert 'blindai_collector_events_deleted_total{cause="retention"} 1.0' in http.get("/metrics").text
    finally:
        store.close()


def test_model_names_from_old_servers_hash_the_same_across_restarts(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    now_s = int(time.time())
    for attempt in range(2):
        served = start_serve(tmp_path / f"run{attempt}", "--db", str(db), "--log-level", "warning")
        old = [{"user_id": "1A2B3C", "event_type": "run_model", "time": now_s - attempt, "app_version": "0.5.6",
                "event_properties": {"RunModel": {"model_name": "acme-private-model", "time_taken": 0.01}}}]
        with httpx.Client(base_url=served.url, timeout=30) as http:
            assert http.post("/blindai", json=old).status_code == 200
        assert served.stop() == 0
    key_file = tmp_path / "t.duckdb.model-name-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    store = DuckDBStore(db)
    try:
        names = [r["model_name"] for r in store.rows()]
    finally:
        store.close()
    assert len(names) == 2 and names[0] == names[1] and names[0].startswith("h:")
    assert "acme" not in names[0]


def test_the_admin_token_may_come_from_the_environment_and_stays_off_the_process_list(tmp_path: Path) -> None:
    token = "token-from-the-environment"
    served = start_serve(tmp_path, "--db", str(tmp_path / "t.duckdb"),
                         env={"BLINDAI_TELEMETRY_ADMIN_TOKEN": token})
    try:
        cmdline = Path(f"/proc/{served.process.pid}/cmdline").read_bytes()
        assert token.encode() not in cmdline
        # It says where the dashboard is and that it needs the token, without printing the token.
        stderr = (tmp_path / "stderr.log").read_text()
        assert f"Dashboard: {served.url}/ (it asks for the admin token" in stderr and token not in stderr
        assert httpx.get(served.url + "/api/v1/summary", timeout=10).status_code == 401
        ok = httpx.get(served.url + "/api/v1/summary", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert ok.status_code == 200
    finally:
        assert served.stop() == 0
