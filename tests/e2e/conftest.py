"""End-to-end fixtures: the real collector (FastAPI app under uvicorn on 127.0.0.1) on a real DuckDB file."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from blindai_telemetry.collector.app import create_app
from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.reference.threaded import ThreadedServer
from blindai_telemetry.stores import Store, open_store


@dataclass
class Collector:
    url: str
    port: int
    db_path: Path
    store: Store
    http: ThreadedServer
    closed: bool = False

    def summary(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/api/v1/summary", timeout=10.0, trust_env=False)
        response.raise_for_status()
        return dict(response.json())

    def wait_summary(self, check: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """Poll `/api/v1/summary` until `check(summary)` holds or `timeout` passes; return the last summary."""
        return poll_until(self.summary, check, timeout)

    def close(self) -> None:
        """Stop serving (the writer drains) and close the DuckDB file."""
        if not self.closed:
            self.closed = True
            self.http.stop()
            self.store.close()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    db_path = tmp_path / "collector" / "telemetry.duckdb"
    db_path.parent.mkdir()
    store = open_store(db=str(db_path))
    http = ThreadedServer(create_app(CollectorSettings(), store))
    running = Collector(http.url, http.port, db_path, store, http.start())
    yield running
    running.close()


def poll_until(get: Callable[[], Any], check: Callable[[Any], bool], timeout: float) -> Any:
    """Call `get` until `check` accepts its value or `timeout` passes; return the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if check(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)  # polling a remote state, bounded by the deadline
