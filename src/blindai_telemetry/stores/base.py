"""The `Store` role: where the collector keeps events, and the public `events` table every store exposes."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: A row of the `events` table: column name -> value. `time` and `received_at` are Unix milliseconds (int);
#: `properties` is a dict of the remaining catalogue properties (stored as JSON). Missing keys are NULL.
Row = Mapping[str, Any]

ColumnType = Literal["VARCHAR", "TIMESTAMP", "DOUBLE", "BIGINT", "INTEGER", "BOOLEAN", "JSON"]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = True


#: The public schema of the `events` table, the same in every store; users query it with plain SQL.
#: Every store creates exactly these columns, in this order.
EVENT_COLUMNS: tuple[Column, ...] = (
    Column("event_id", "VARCHAR", nullable=False),
    Column("event", "VARCHAR", nullable=False),
    Column("time", "TIMESTAMP", nullable=False),  # UTC
    Column("received_at", "TIMESTAMP", nullable=False),  # UTC, set by the collector (retention uses `time`)
    Column("install_id", "VARCHAR", nullable=False),
    Column("session_id", "VARCHAR"),
    Column("app", "VARCHAR"),
    Column("app_version", "VARCHAR"),
    Column("os_name", "VARCHAR"),
    Column("os_release", "VARCHAR"),
    Column("arch", "VARCHAR"),
    Column("python_version", "VARCHAR"),
    Column("mode", "VARCHAR"),
    Column("uptime_s", "DOUBLE"),
    Column("cpu_count", "INTEGER"),
    Column("memory_gb", "DOUBLE"),
    Column("is_ci", "BOOLEAN"),
    Column("client_install_id", "VARCHAR"),
    Column("client_app_version", "VARCHAR"),
    Column("client_os_name", "VARCHAR"),
    Column("client_os_release", "VARCHAR"),
    Column("client_arch", "VARCHAR"),
    Column("client_user_agent", "VARCHAR"),
    Column("model_name", "VARCHAR"),
    Column("model_size_bytes", "BIGINT"),
    Column("duration_ms", "DOUBLE"),
    Column("input_bytes", "BIGINT"),
    Column("ok", "BOOLEAN"),
    Column("error_kind", "VARCHAR"),
    Column("source", "VARCHAR"),  # which endpoint it came in by: native | amplitude | blindai | seed
    Column("properties", "JSON"),  # catalogue properties without a column of their own
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in EVENT_COLUMNS)


@dataclass(frozen=True)
class WriteResult:
    """What a write did: rows newly stored, and rows ignored because their event_id was already stored."""

    inserted: int
    duplicates: int


@dataclass(frozen=True)
class Deletion:
    """A deletion request as recorded by the store. The deleted ids are never kept in clear."""

    id: str
    status: Literal["pending", "done"]
    requested_at_ms: int
    install_count: int
    done_at_ms: int | None = None
    events_deleted: int | None = None


class StoreError(Exception):
    """The store could not do what was asked (disk full, file locked, server down): the caller answers 503."""


class Store(abc.ABC):
    """Keeps events. Implementations: `InMemoryStore` (the shipped fake), `DuckDBStore`, `ClickHouseStore`.

    Every method may raise `StoreError`. A store is used by one writer at a time per process (the collector's
    writer thread); read methods may be called from other threads.
    """

    #: SQL dialect of `fetch()`: "duckdb", "clickhouse", or None when the store has no SQL (InMemoryStore).
    dialect: str | None = None

    @abc.abstractmethod
    def write(self, rows: Sequence[Row]) -> WriteResult:
        """Store `rows` atomically (all or none) and durably before returning.

        Rows whose `event_id` is already stored, or repeated within `rows`, are ignored and counted as
        duplicates — across restarts, and for ClickHouse across collector processes.
        """

    @abc.abstractmethod
    def delete_installs(self, install_ids: Sequence[str]) -> int:
        """Delete every event of these installs, clear `client_install_id` where it names one of them,
        and return the number of events deleted."""

    @abc.abstractmethod
    def delete_older_than(self, cutoff_ms: int) -> int:
        """Delete events whose `time` is before `cutoff_ms` (retention); return how many."""

    @abc.abstractmethod
    def summary(self) -> dict[str, int]:
        """At least {"events": N, "installs": M} over all stored data, CI included."""

    @abc.abstractmethod
    def rows(self, install_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Stored rows (oldest first), optionally of one install, with `time` as Unix ms: for tests and tools."""

    # Deletion requests are kept by the store so that they survive restarts and are shared by collectors.
    @abc.abstractmethod
    def record_deletion(self, deletion: Deletion) -> None:
        """Insert or replace the record of a deletion request."""

    @abc.abstractmethod
    def get_deletion(self, deletion_id: str) -> Deletion | None:
        """The record of a deletion request, or None."""

    # Installs deleted on one collector must not be forwarded to Amplitude by another. A store that several
    # collector processes share (ClickHouse) keeps the list; a store one process owns (DuckDB's file lock, the
    # in-memory fake) leaves it to that process's forwarding outbox, which already has it.
    #: True when several collector processes may write to this store at once.
    shared_by_processes: bool = False

    def block_forwarding(self, install_hashes: Sequence[str]) -> None:  # noqa: B027 - only shared stores need it
        """Record keyed hashes of deleted installs (never the ids) for every collector sharing the store."""

    def forwarding_blocks(self) -> set[str]:
        """The keyed hashes recorded by `block_forwarding`, from every collector sharing the store."""
        return set()

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run a read-only query in this store's `dialect` (dashboard and report queries)."""
        raise NotImplementedError(f"{type(self).__name__} has no SQL")

    def close(self) -> None:  # noqa: B027 - optional hook, most stores need it
        """Release files and connections."""
