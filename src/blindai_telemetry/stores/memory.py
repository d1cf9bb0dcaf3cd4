"""`InMemoryStore`: the shipped fake of the `Store` role, in pure Python, for tests and `memory://`."""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

from blindai_telemetry.stores import _rows
from blindai_telemetry.stores.base import Deletion, Row, Store, WriteResult


class InMemoryStore(Store):
    """Keeps events in a list, under a lock: same contract as the real stores, nothing survives the process.

    It refuses and deduplicates exactly as they do (the checks live in `_rows`), so tests of the collector
    written against it hold against DuckDB and ClickHouse too — the contract suite runs over all three.
    """

    dialect = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._event_ids: set[str] = set()
        self._deletions: dict[str, Deletion] = {}
        self._closed = False

    def write(self, rows: Sequence[Row]) -> WriteResult:
        unique, _ = _rows.normalise_batch(rows)  # raises before anything is stored: all or nothing
        with self._lock:
            new = [row for row in unique if row["event_id"] not in self._event_ids]
            self._events.extend(new)
            self._event_ids.update(row["event_id"] for row in new)
        return _rows.result(len(new), len(rows))

    def delete_installs(self, install_ids: Sequence[str]) -> int:
        doomed = set(install_ids)
        with self._lock:
            kept = [row for row in self._events if row["install_id"] not in doomed]
            deleted = len(self._events) - len(kept)
            for row in kept:
                if row["client_install_id"] in doomed:
                    row["client_install_id"] = None
            self._events = kept
            # Forget the deleted ids, as the SQL stores do (their key goes with the row).
            self._event_ids = {row["event_id"] for row in kept}
        return deleted

    def delete_older_than(self, cutoff_ms: int) -> int:
        with self._lock:
            kept = [row for row in self._events if row["time"] >= cutoff_ms]
            deleted = len(self._events) - len(kept)
            self._events = kept
            self._event_ids = {row["event_id"] for row in kept}
        return deleted

    def summary(self) -> dict[str, int]:
        with self._lock:
            events = list(self._events)
        out = {
            "events": len(events),
            "installs": len({row["install_id"] for row in events}),
            "servers": len({row["install_id"] for row in events if row["mode"] is not None}),
            "clients": len({row["client_install_id"] for row in events if row["client_install_id"] is not None}),
        }
        if events:
            out["first_time_ms"] = min(row["time"] for row in events)
            out["last_time_ms"] = max(row["time"] for row in events)
        return out

    def rows(self, install_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        with self._lock:
            selected = [row for row in self._events if install_id is None or row["install_id"] == install_id]
            # Oldest first; ties in the same order as the real stores (by event_id) so results compare equal.
            selected.sort(key=lambda row: (row["time"], row["event_id"]))
            return copy.deepcopy(selected[:limit])

    def record_deletion(self, deletion: Deletion) -> None:
        with self._lock:
            self._deletions[deletion.id] = deletion

    def get_deletion(self, deletion_id: str) -> Deletion | None:
        with self._lock:
            return self._deletions.get(deletion_id)

    def close(self) -> None:
        self._closed = True
