"""Fixtures of the storage contract suite: one factory per store, and sample rows."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from blindai_telemetry.stores import InMemoryStore, Store
from blindai_telemetry.testing.chdb_http import ChdbHttpServer

#: Opens a store; called again with the same location it reopens the same data (None: nothing persists).
StoreFactory = Callable[[], Store]

#: "clickhouse-http" is the real clickhouse-connect HTTP client against `chdb_http.ChdbHttpServer`.
STORE_KINDS = ["memory", "duckdb", "chdb", "clickhouse-http"]
_databases = itertools.count()


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One chDB data directory for the session: chDB runs one engine per process, and reopening the same
    directory is fast while switching directories restarts the engine. Each test gets its own database."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="module")
def chdb_http(chdb_path: Path) -> Iterator[ChdbHttpServer]:
    """The ClickHouse HTTP front to chDB, on 127.0.0.1 (per module, so the engine is released after it)."""
    server = ChdbHttpServer(str(chdb_path))
    yield server
    server.close()


def _factory(kind: str, tmp_path: Path, chdb_path: Path, request: pytest.FixtureRequest) -> StoreFactory | None:
    if kind == "memory":
        return InMemoryStore
    if kind == "duckdb":
        from blindai_telemetry.stores.duckdb import DuckDBStore

        return lambda: DuckDBStore(tmp_path / "events.duckdb")
    from blindai_telemetry.stores.clickhouse import ClickHouseStore

    database = f"t{next(_databases)}"
    if kind == "chdb":
        return lambda: ClickHouseStore.from_chdb(str(chdb_path), database=database)
    server: ChdbHttpServer = request.getfixturevalue("chdb_http")
    return lambda: ClickHouseStore.from_url(f"clickhouse://default:@127.0.0.1:{server.port}/{database}?compress=false")


@pytest.fixture(params=STORE_KINDS)
def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path, chdb_path: Path
) -> Iterator[tuple[str, StoreFactory]]:
    """(kind, factory) for each store; every store it opened is closed after the test (for chDB this frees
    the engine, so other tests in the run may open theirs)."""
    make = _factory(request.param, tmp_path, chdb_path, request)
    assert make is not None
    opened: list[Store] = []

    def open_and_track() -> Store:
        store = make()
        opened.append(store)
        return store

    yield request.param, open_and_track
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: tuple[str, StoreFactory]) -> Store:
    return store_factory[1]()


_counter = itertools.count()


def make_row(**overrides: Any) -> dict[str, Any]:
    """A complete, valid row with a fresh event_id; every column set, so a round trip checks them all."""
    n = next(_counter)
    row: dict[str, Any] = {
        "event_id": f"00000000-0000-4000-8000-{n:012d}",
        "event": "model_run",
        "time": 1_764_323_400_000 + n,
        "received_at": 1_764_323_401_000 + n,
        "install_id": "6f1d2c3b-0000-4000-8000-000000000001",
        "session_id": "c2a1c2a1-0000-4000-8000-000000000002",
        "app": "blindai-server",
        "app_version": "0.6.3",
        "os_name": "Linux",
        "os_release": "6.1.0-18-amd64",
        "arch": "x86_64",
        "python_version": "3.11.7",
        "mode": "simulation",
        "uptime_s": 12.5,
        "cpu_count": 2,
        "memory_gb": 32.0,
        "is_ci": False,
        "client_install_id": "aaaaaaaa-0000-4000-8000-000000000003",
        "client_app_version": "0.6.3",
        "client_os_name": "Linux",
        "client_os_release": "6.1.0",
        "client_arch": "x86_64",
        "client_user_agent": "blindai-python",
        "model_name": "resnet50",
        "model_size_bytes": 102_400_000_000,
        "duration_ms": 12.25,
        "input_bytes": 1024,
        "ok": True,
        "error_kind": None,
        "source": "native",
        "properties": {"future_field": [1, "two", {"three": 3.5}], "flag": None},
    }
    row.update(overrides)
    return row
