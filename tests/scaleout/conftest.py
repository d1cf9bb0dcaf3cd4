"""Fixtures of the scale-out tests: one ClickHouse and several collector processes in front of it.

ClickHouse is the chDB HTTP front run as a process of its own (`python -m blindai_telemetry.testing.chdb_http`),
which owns the data as a server does; each collector is a real `blindai-telemetry serve --store clickhouse://...`
process talking to it with the real clickhouse-connect client. Every test uses install ids of its own, so the
tests of the module share one database and one set of collectors (starting processes is the slow part).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from blindai_telemetry.stores.clickhouse import ClickHouseStore

BIN = str(Path(sys.executable).with_name("blindai-telemetry"))
DATABASE = "scaleout"
COLLECTORS = 3
NOW_MS = int(time.time() * 1000)
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


@dataclass(eq=False)
class Process:
    """A process that printed `listening on URL`; its output goes to `log`."""

    popen: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait(10)


def _env(workdir: Path) -> dict[str, str]:
    # The module's processes outlive one test's environment fixture: give them the same clean one explicitly.
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARIABLES}
    env.update(NO_PROXY="127.0.0.1,localhost", BLINDAI_TELEMETRY_CONFIG_DIR=str(workdir / "config"),
               BLINDAI_DISABLE_TELEMETRY="1")
    return env


def start(command: list[str], workdir: Path, ready_path: str) -> Process:
    """Run `command` in `workdir` and wait until it prints its URL and `GET ready_path` answers 200."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "output.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=_env(workdir))
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, f"{command[:3]} did not start: {log.read_text()}"
        assert popen.poll() is None, f"{command[:3]} exited: {log.read_text()}"
        found = re.search(r"listening on (http://\S+)", log.read_text())
        if found:
            try:
                if httpx.get(found.group(1) + ready_path, timeout=5).status_code == 200:
                    return Process(popen, found.group(1), log)
            except httpx.HTTPError:
                pass
        time.sleep(0.05)


def store_url(clickhouse: Process) -> str:
    return f"clickhouse://default:@127.0.0.1:{clickhouse.port}/{DATABASE}?compress=false"


def start_collector(clickhouse: Process, workdir: Path, *args: str) -> Process:
    return start([BIN, "serve", "--store", store_url(clickhouse), "--port", "0", "--log-level", "warning",
                  "--retention-days", "0", *args], workdir, "/healthz")


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """The one ClickHouse of the module: chDB behind its HTTP front, in a process that owns the data."""
    workdir = tmp_path_factory.mktemp("clickhouse")
    front = start([sys.executable, "-m", "blindai_telemetry.testing.chdb_http", str(workdir / "data")],
                  workdir, "/ping")
    yield front
    assert front.stop() == 0, front.log.read_text()


@pytest.fixture(scope="module")
def model_name_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The key every collector hashes private model names with: deployed to each machine beforehand."""
    path = tmp_path_factory.mktemp("key") / "model-name-key"
    path.write_text(secrets.token_bytes(32).hex())
    return path


@pytest.fixture(scope="module")
def collectors(clickhouse: Process, model_name_key_file: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Process]]:
    """Three collectors on one ClickHouse database, started at once (they all create the schema if missing)."""
    started: list[Process | BaseException] = [RuntimeError("not started")] * COLLECTORS

    def run(index: int) -> None:
        try:
            started[index] = start_collector(clickhouse, tmp_path_factory.mktemp(f"collector{index}"),
                                             "--model-name-key-file", str(model_name_key_file))
        except BaseException as exc:  # re-raised below, once every process is accounted for
            started[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(COLLECTORS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    processes = [p for p in started if isinstance(p, Process)]
    try:
        for p in started:
            if not isinstance(p, Process):
                raise p
        yield processes
    finally:
        for p in processes:
            code = p.stop()
            assert code == 0 and "Traceback" not in p.log.read_text(), p.log.read_text()


@pytest.fixture
def store(clickhouse: Process) -> Iterator[ClickHouseStore]:
    """The test's own view of the database, through the same client the collectors use (reads with FINAL)."""
    opened = ClickHouseStore.from_url(store_url(clickhouse))
    yield opened
    opened.close()


def events(install_id: str, n: int, **fields: Any) -> list[dict[str, Any]]:
    """`n` valid native events of one install, each with a fresh event_id and its own time."""
    return [{"event_id": str(uuid.uuid4()), "event": "model_run", "time": NOW_MS - i, "install_id": install_id,
             "session_id": "s-" + install_id[:8], "app": "blindai-server", "app_version": "0.6.3",
             "os_name": "Linux", "arch": "x86_64", "mode": "simulation", "is_ci": False,
             "properties": {"model_name": "resnet50", "duration_ms": 1.5, "ok": True}, **fields}
            for i in range(n)]


def post(collector: Process, batch: Sequence[dict[str, Any]]) -> httpx.Response:
    """POST a native batch, gzip, as the SDK does."""
    body = gzip.compress(json.dumps({"schema_version": 1, "sent_at": NOW_MS, "events": list(batch)}).encode())
    return httpx.post(collector.url + "/v1/batch", content=body, timeout=60,
                      headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})


def wait_done(collector: Process, deletion_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        status = httpx.get(f"{collector.url}/v1/deletions/{deletion_id}", timeout=10).json()
        if status["status"] == "done":
            return dict(status)
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def delete(collector: Process, *install_ids: str) -> str:
    response = httpx.post(collector.url + "/v1/deletions", json={"install_ids": list(install_ids)}, timeout=30)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])
