"""Stores: where the collector keeps events (`InMemoryStore`, `DuckDBStore`, `ClickHouseStore`)."""

from blindai_telemetry.stores.base import (
    COLUMN_NAMES,
    EVENT_COLUMNS,
    Deletion,
    Row,
    Store,
    StoreError,
    WriteResult,
)

__all__ = ["COLUMN_NAMES", "EVENT_COLUMNS", "Deletion", "Row", "Store", "StoreError", "WriteResult"]
