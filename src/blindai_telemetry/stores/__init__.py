"""Stores: where the collector keeps events (`InMemoryStore`, `DuckDBStore`, `ClickHouseStore`), and `open_store`.

`import blindai_telemetry.stores` stays light: DuckDB, pyarrow and clickhouse-connect are imported only
when a store that needs them is opened (the SDK and the CLI's user commands never pay for them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from blindai_telemetry.stores._rows import MAX_TIME_MS, MIN_TIME_MS
from blindai_telemetry.stores.base import (
    COLUMN_NAMES,
    EVENT_COLUMNS,
    Deletion,
    Row,
    Store,
    StoreError,
    WriteResult,
)
from blindai_telemetry.stores.memory import InMemoryStore

if TYPE_CHECKING:
    from blindai_telemetry.stores.clickhouse import ClickHouseStore
    from blindai_telemetry.stores.duckdb import DuckDBStore

__all__ = [
    "COLUMN_NAMES",
    "EVENT_COLUMNS",
    "MAX_TIME_MS",
    "MIN_TIME_MS",
    "ClickHouseStore",
    "Deletion",
    "DuckDBStore",
    "InMemoryStore",
    "Row",
    "Store",
    "StoreError",
    "WriteResult",
    "open_store",
]


def open_store(db: str | None = None, url: str | None = None) -> Store:
    """Open the store named by `serve --db PATH` or `serve --store URL` (exactly one of them).

    URLs: `clickhouse://user:password@host:8123/database?compress=false` (ClickHouse over HTTP),
    `chdb://PATH` (ClickHouse in-process, for tests), `duckdb://PATH`, `memory://` (the in-memory fake).
    """
    if (db is None) == (url is None):
        raise ValueError("name exactly one store: a DuckDB file path (--db) or a store URL (--store)")
    if db is not None:
        if not db:
            raise ValueError("the DuckDB file path is empty")
        from blindai_telemetry.stores.duckdb import DuckDBStore

        return DuckDBStore(db)
    assert url is not None
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ValueError(f"not a store URL: {url!r} (expected clickhouse://, chdb://, duckdb:// or memory://)")
    if scheme == "memory":
        return InMemoryStore()
    if scheme == "duckdb":
        from blindai_telemetry.stores.duckdb import DuckDBStore

        if not rest:
            raise ValueError("duckdb:// needs a file path, e.g. duckdb://./telemetry.duckdb")
        return DuckDBStore(rest)
    if scheme in ("clickhouse", "clickhouses", "chdb"):
        store: Store = _lazy("ClickHouseStore").from_url(url)
        return store
    raise ValueError(f"unknown store URL scheme {scheme!r} (expected clickhouse://, chdb://, duckdb:// or memory://)")


_LAZY = {"DuckDBStore": "blindai_telemetry.stores.duckdb", "ClickHouseStore": "blindai_telemetry.stores.clickhouse"}


def _lazy(name: str) -> Any:
    return getattr(importlib.import_module(_LAZY[name]), name)


def __getattr__(name: str) -> Any:
    # Lazy: `from blindai_telemetry.stores import DuckDBStore` imports duckdb only then.
    if name in _LAZY:
        return _lazy(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
