"""Fixtures for the dashboard tests: a DuckDB store seeded with a known fleet, and a live collector over it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.stores import Store, open_store

from . import dataset

START = date(2026, 1, 5)  # a Monday, so week buckets start on the first day


def open_duckdb(path: Path) -> Store:
    """A real DuckDBStore on a file, as `serve --db PATH` opens it."""
    return open_store(db=str(path))


@pytest.fixture(scope="module")
def fleet_rows() -> list[dict[str, Any]]:
    # 27 days: January 5 to 31, so the fleet fills four Monday-weeks and one month exactly.
    return dataset.fleet(START, days=27)


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory, fleet_rows: list[dict[str, Any]]) -> Iterator[Store]:
    store = open_duckdb(tmp_path_factory.mktemp("duck") / "events.duckdb")
    store.write(fleet_rows)
    yield store
    store.close()


def build_app(store: Store, settings: CollectorSettings | None = None) -> Any:
    """The collector app (`create_app`) when it exists, else a minimal FastAPI app mounting the dashboard."""
    # Ten years: the fixed-date fixtures (January 2026) must survive the retention that create_app runs at start.
    settings = settings or CollectorSettings(retention_days=3650)
    try:
        from blindai_telemetry.collector.app import create_app  # type: ignore[import-not-found]
    except ImportError:
        from fastapi import FastAPI

        from blindai_telemetry.dashboard.api import router

        app = FastAPI()
        app.state.settings = settings
        app.state.store = store
        app.include_router(router)
        return app
    return create_app(settings, store)


class LiveServer:
    """uvicorn on 127.0.0.1 (a free port) in a thread, stopped on exit."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP; without it
        # Nagle's algorithm against the client's delayed ACK adds ~40 ms to every keep-alive request.
        self.sock = sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)  # polling with a deadline, not a bare sleep

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="module")
def live(duck: Store) -> Iterator[LiveServer]:
    server = LiveServer(build_app(duck))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def get(live: LiveServer) -> Iterator[Callable[..., Any]]:
    """GET an API path on the live server and return the decoded JSON (asserting 200)."""
    import httpx

    with httpx.Client(base_url=live.url, timeout=30) as client:

        def _get(path: str, **params: Any) -> Any:
            response = client.get(path, params={k: v for k, v in params.items() if v is not None})
            assert response.status_code == 200, response.text
            return response.json()

        yield _get
