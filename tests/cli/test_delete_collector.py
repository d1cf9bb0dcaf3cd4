"""`delete-my-data` against a real collector (`blindai-telemetry serve` on a DuckDB file): the events are gone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from blindai_telemetry import Telemetry, _config

from ._helpers import Invoke

CLI = Path(sys.executable).with_name("blindai-telemetry")
ADMIN = "operators-only-token"


@dataclass
class Collector:
    url: str
    db: Path
    process: subprocess.Popen[bytes]

    def summary(self) -> dict[str, Any]:
        # The operator's view: with an admin token configured, the query API wants it even on loopback.
        request = urllib.request.Request(f"{self.url}/api/v1/summary", headers={"Authorization": f"Bearer {ADMIN}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            data = json.loads(response.read())
        assert isinstance(data, dict)
        return data

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Query the DuckDB file once the collector has stopped (one process may open it at a time)."""
        import duckdb

        self.stop()
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql).fetchall()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    db, port = tmp_path / "telemetry.duckdb", free_port()
    log = (tmp_path / "collector.log").open("wb")
    # With an admin token the CLI goes through the collector's self-service path, as a user's would.
    process = subprocess.Popen([str(CLI), "serve", "--db", str(db), "--port", str(port), "--admin-token", ADMIN],
                               stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    running = Collector(f"http://127.0.0.1:{port}", db, process)
    deadline = time.monotonic() + 60
    while True:  # poll /healthz with a deadline: the process needs a moment to import and bind
        try:
            with urllib.request.urlopen(f"{running.url}/healthz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.close()
            pytest.fail("collector did not start:\n" + (tmp_path / "collector.log").read_text(errors="replace"))
        time.sleep(0.1)
    try:
        yield running
    finally:
        running.stop()
        log.close()


def send(url: str, *events: tuple[str, dict[str, Any]], config_dir: Path | None = None,
         app: str = "blindai-server") -> Telemetry:
    telemetry = Telemetry(app, "0.6.3", endpoint=url, mode="simulation" if app == "blindai-server" else None,
                          flush_interval=60, config_dir=config_dir)
    for name, properties in events:
        telemetry.track(name, **properties)
    assert telemetry.flush(timeout=20)
    telemetry.shutdown(timeout=5)
    return telemetry


def test_deletes_this_install_and_keeps_others(invoke: Invoke, collector: Collector, tmp_path: Path) -> None:
    mine = send(collector.url, ("server_started", {}), ("model_run", {"duration_ms": 1.0, "ok": True}))
    other = send(collector.url, ("server_started", {}), config_dir=tmp_path / "someone-else")
    before = collector.summary()
    assert (before["events"], before["installs"]) == (3, 2)

    result = invoke("delete-my-data", "--yes", "--endpoint", collector.url, "--timeout", "30")
    assert "deletion id:" in result.stdout and " done: 2 event(s) deleted" in result.stdout
    after = collector.summary()
    assert (after["events"], after["installs"]) == (1, 1)
    remaining = collector.rows("SELECT install_id FROM events")
    assert [str(r[0]) for r in remaining] == [other.install_id] and mine.install_id != other.install_id


def test_deletes_previous_ids_after_a_reset_and_forgets_them(invoke: Invoke, collector: Collector) -> None:
    first = send(collector.url, ("server_started", {}))
    invoke("id", "--reset", "--no-delete")
    second = send(collector.url, ("server_started", {}))
    assert first.install_id != second.install_id and collector.summary()["installs"] == 2
    # No --endpoint: the CLI finds the collector in the transparency log.
    invoke("delete-my-data", "--yes")
    assert collector.summary()["events"] == 0
    assert _config.load_user_config().previous_install_ids == []


def test_reset_with_yes_deletes_the_old_id_only(invoke: Invoke, collector: Collector) -> None:
    old = send(collector.url, ("server_started", {}))
    invoke("id", "--reset", "--yes", "--endpoint", collector.url)
    new = send(collector.url, ("server_started", {}))
    rows = collector.rows("SELECT install_id FROM events")
    assert [str(r[0]) for r in rows] == [new.install_id] and old.install_id != new.install_id


def test_clears_this_client_from_servers_events(invoke: Invoke, collector: Collector, tmp_path: Path) -> None:
    client = Telemetry("blindai-client", "0.6.3", endpoint=collector.url, flush_interval=60)
    info = client.client_info()
    client.shutdown(timeout=5)
    server = send(collector.url, ("model_run", {"client": info, "duration_ms": 2.0, "ok": True}),
                  config_dir=tmp_path / "server")
    invoke("delete-my-data", "--yes", "--endpoint", collector.url)
    rows = collector.rows("SELECT install_id, client_install_id FROM events")
    assert [(str(r[0]), r[1]) for r in rows] == [(server.install_id, None)]


def test_more_ids_than_one_request_takes_are_sent_in_chunks(invoke: Invoke, collector: Collector) -> None:
    send(collector.url, ("server_started", {}))
    for _ in range(11):
        invoke("id", "--reset", "--no-delete")
    send(collector.url, ("server_started", {}))
    assert len(_config.load_user_config().previous_install_ids) == 11
    out = invoke("delete-my-data", "--yes", "--endpoint", collector.url).stdout
    assert out.count(" done") == 2  # 12 ids: 10 + 2, each within the collector's self-service limit
    assert collector.summary()["events"] == 0 and _config.load_user_config().previous_install_ids == []


def test_rate_limited_deletion_waits_for_retry_after_or_says_so(invoke: Invoke, collector: Collector) -> None:
    send(collector.url, ("server_started", {}))
    for _ in range(40):  # use up the collector's shared self-service budget with other installs' requests
        body = json.dumps({"install_ids": [str(uuid.uuid4())]}).encode()
        request = urllib.request.Request(f"{collector.url}/v1/deletions", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as error:
            error.close()
            if error.code == 429:
                break
    else:
        pytest.fail("the collector never rate-limited self-service deletions")
    short = invoke("delete-my-data", "--yes", "--endpoint", collector.url, "--timeout", "0.2", expect=1)
    assert "is busy (429)" in short.stderr and "Try again" in short.stderr
    assert "done: 1 event(s) deleted" in invoke("delete-my-data", "--yes", "--endpoint", collector.url).stdout
