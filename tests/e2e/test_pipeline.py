"""Client → reference server → collector → DuckDB → query API, all real, on 127.0.0.1."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb

from blindai_telemetry.reference.client import ServerError, connect
from blindai_telemetry.reference.models import identity_model, linear_model, sample_input
from blindai_telemetry.reference.server import create_server_app, server_telemetry
from blindai_telemetry.reference.threaded import ThreadedServer

SECRET_NAME = "acme-secret-fraud-model"


def test_every_request_lands_in_duckdb_with_its_fields(collector: Any, tmp_path: Path) -> None:
    server_tel = server_telemetry("hardware", "0.6.3", collector.url, tmp_path / "server")
    server = ThreadedServer(create_server_app(server_tel, mode="hardware", version="0.6.3")).start()
    client = connect(server.url, endpoint=collector.url, config_dir=tmp_path / "client")
    try:
        public_id = client.upload_model(linear_model(), name="resnet50")
        client.upload_model(identity_model(), name=SECRET_NAME)
        for batch in range(1, 6):
            client.run_model(public_id, sample_input("linear", batch))
        try:
            client.run_model(public_id, [[1.0, 2.0]])
        except ServerError as refused:
            assert refused.kind == "invalid_input"
        client.delete_model(public_id)
        client_install = client.telemetry.install_id
        assert client.telemetry.flush(timeout=10.0)
    finally:
        client.close()
        server.stop()  # tracks server_stopped
    assert server_tel.flush(timeout=10.0)
    server_tel.shutdown(timeout=1.0)

    # 1 client_connected + started + 2 uploads + 6 runs + 1 delete + stopped
    summary = collector.summary()
    assert (summary["events"], summary["installs"]) == (12, 2)

    rows = collector.store.rows(limit=100)
    assert Counter(r["event"] for r in rows) == {
        "client_connected": 1, "server_started": 1, "model_uploaded": 2, "model_run": 6, "model_deleted": 1,
        "server_stopped": 1,
    }
    server_rows = [r for r in rows if r["app"] == "blindai-server"]
    assert {r["install_id"] for r in server_rows} == {server_tel.install_id}
    assert {(r["mode"], r["app_version"]) for r in server_rows} == {("hardware", "0.6.3")}
    (connected,) = [r for r in rows if r["event"] == "client_connected"]
    assert connected["install_id"] == client_install and connected["app"] == "blindai-client"

    requests = [r for r in server_rows if r["event"] in ("model_uploaded", "model_run", "model_deleted")]
    for row in requests:  # the client's anonymous facts land in the client_* columns
        assert row["client_install_id"] == client_install
        assert row["client_os_name"] == platform.system() and row["client_arch"] == platform.machine()
        assert row["client_user_agent"] and row["client_app_version"]
    runs = [r for r in requests if r["event"] == "model_run"]
    assert sorted(r["input_bytes"] for r in runs if r["ok"]) == [16 * b for b in range(1, 6)]  # float32 × 4
    assert [(r["ok"], r["error_kind"]) for r in runs if not r["ok"]] == [(False, "invalid_input")]
    assert all(r["duration_ms"] > 0 for r in runs)
    uploads = {r["model_size_bytes"]: r["model_name"] for r in requests if r["event"] == "model_uploaded"}
    assert uploads[len(linear_model())] == "resnet50"  # a public architecture is kept as it is
    hashed = uploads[len(identity_model())]
    assert hashed and hashed != SECRET_NAME and SECRET_NAME not in hashed

    collector.close()
    for path in collector.db_path.parent.iterdir():  # the DuckDB file and anything beside it
        assert SECRET_NAME.encode() not in path.read_bytes()


def test_a_server_process_reports_its_mode_version_and_stop(collector: Any, tmp_path: Path) -> None:
    """`python -m blindai_telemetry.reference.server` as its own process; SIGINT delivers its last events."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "blindai_telemetry.reference.server", "--port", "0", "--mode", "dcsv3",
         "--version", "0.6.1", "--endpoint", collector.url, "--config-dir", str(tmp_path / "server")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line
        with connect(line.split()[-1], endpoint=collector.url, config_dir=tmp_path / "client") as client:
            model_id = client.upload_model(identity_model(), name="whisper")
            client.run_model(model_id, sample_input("identity"))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0

    # The server flushed before exiting and the collector acknowledged only stored events: no waiting needed.
    rows = [r for r in collector.store.rows(limit=100) if r["app"] == "blindai-server"]
    assert [r["event"] for r in rows] == ["server_started", "model_uploaded", "model_run", "server_stopped"]
    assert {(r["mode"], r["app_version"]) for r in rows} == {("dcsv3", "0.6.1")}
    assert collector.wait_summary(lambda s: s["installs"] == 2, timeout=10.0)["installs"] == 2  # + the client


def test_the_events_table_answers_plain_sql(collector: Any, tmp_path: Path) -> None:
    """DESIGN.md: users may query the `events` table with plain SQL (after the collector releases the file)."""
    server_tel = server_telemetry("simulation", "0.6.3", collector.url, tmp_path / "server")
    with ThreadedServer(create_server_app(server_tel)) as server, \
            connect(server.url, endpoint=collector.url, config_dir=tmp_path / "client") as client:
        client.upload_model(identity_model(), name="gpt2")
    assert server_tel.flush(timeout=10.0)
    server_tel.shutdown(timeout=1.0)
    collector.close()
    with duckdb.connect(str(collector.db_path), read_only=True) as con:
        result = con.execute("SELECT event, mode, model_name, ok FROM events WHERE event = 'model_uploaded'")
        assert result.fetchall() == [("model_uploaded", "simulation", "gpt2", True)]
