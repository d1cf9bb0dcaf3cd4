"""Checks and normalises rows before any store writes them, so every store accepts and refuses the same rows.

A store's write is all or nothing: every row of a batch is checked here first, and one bad row refuses the
whole batch with `ValueError` before anything reaches the database. A bad row is the caller's bug (the
collector validates against the catalogue first), not a storage failure, so it is not a `StoreError` (which
the collector turns into a 503 and a retry that would fail again).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from blindai_telemetry.stores.base import COLUMN_NAMES, EVENT_COLUMNS, Row, WriteResult

_KNOWN = frozenset(COLUMN_NAMES)

#: Times a store accepts, in Unix ms: 1970-01-01 up to 9999-12-31T23:59:59.999Z, the range the collector
#: validates (collector/validate.py). Every store keeps these exactly: DuckDB's TIMESTAMP goes far beyond, and
#: ClickHouse's DateTime64(3) holds them as Int64 ms (the contract's property test writes both ends).
MIN_TIME_MS = 0
MAX_TIME_MS = 253_402_300_799_999


def _text(column: str, value: Any) -> Any:
    if type(value) is not str:
        if not isinstance(value, str):
            raise ValueError(f"column {column!r} must be a string, got {type(value).__name__}")
        value = str(value)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates: no store can keep them as UTF-8
            raise ValueError(f"column {column!r} is not valid Unicode text") from exc
    return value


def _boolean(column: str, value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"column {column!r} must be a bool, got {type(value).__name__}")
    return value


def _integer(low: int, high: int) -> Any:
    def check(column: str, value: Any) -> Any:
        if type(value) is not int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"column {column!r} must be an int, got {type(value).__name__}")
            value = int(value)
        if not low <= value <= high:
            raise ValueError(f"column {column!r} is out of range: {value}")
        return value

    return check


def _number(column: str, value: Any) -> Any:
    if type(value) is not float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"column {column!r} must be a number, got {type(value).__name__}")
        value = float(value)
    if not math.isfinite(value):  # JSON has no NaN; and NaN != NaN would break read-back equality
        raise ValueError(f"column {column!r} must be finite")
    return value


def _json(column: str, value: Any) -> Any:
    """The remaining catalogue properties, as an object: returned as a deep copy with JSON's own types."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"column {column!r} must be a dict with string keys")
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {column!r} is not JSON-serialisable: {exc}") from exc


_CHECKS = {
    "VARCHAR": _text, "BOOLEAN": _boolean, "DOUBLE": _number, "JSON": _json,
    "INTEGER": _integer(-(2**31), 2**31 - 1), "BIGINT": _integer(-(2**63), 2**63 - 1),
    "TIMESTAMP": _integer(MIN_TIME_MS, MAX_TIME_MS),
}
# Checked for every row of every batch (about 5 µs a row): one function per column, no dispatch on type.
_COLUMNS = tuple((c.name, _CHECKS[c.type], not c.nullable) for c in EVENT_COLUMNS)


def normalise(row: Row) -> dict[str, Any]:
    """Check one row and return it with every column present (missing ones None)."""
    try:
        unknown = row.keys() - _KNOWN
    except AttributeError:
        raise ValueError(f"a row must be a mapping, got {type(row).__name__}") from None
    if unknown:
        raise ValueError(f"unknown column(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    get = row.get
    for name, check, required in _COLUMNS:
        value = get(name)
        if value is None:
            if required:
                raise ValueError(f"column {name!r} is required")
            out[name] = None
        else:
            out[name] = check(name, value)
    return out


class CheckedRows(list[dict[str, Any]]):
    """Rows already in `normalise()`'s form: every column present, each value of its column's type and range.

    Built by the collector's validator (collector/validate.py), which holds every value to the catalogue's
    stricter rules, and whose input (msgspec's JSON) cannot hold a lone surrogate. `normalise_batch` trusts
    such a batch and only drops repeated ids: re-checking was 4-10 us an event on the writer thread, which
    shares the collector's one Python core with the request path. Any other sequence is checked in full.
    """


def normalise_batch(rows: Sequence[Row]) -> tuple[list[dict[str, Any]], int]:
    """Check every row, then drop repeats of an event_id within the batch (the first one wins).

    Returns the unique rows and how many repeats were dropped. Raises ValueError on any bad row.
    """
    unique: dict[str, dict[str, Any]] = {}
    if isinstance(rows, CheckedRows):
        if len({row["event_id"] for row in rows}) == len(rows):  # the usual case: no repeats
            return rows, 0
        for trusted in rows:
            unique.setdefault(trusted["event_id"], trusted)
        return list(unique.values()), len(rows) - len(unique)
    for row in rows:
        checked = normalise(row)
        unique.setdefault(checked["event_id"], checked)
    return list(unique.values()), len(rows) - len(unique)


def result(inserted: int, total: int) -> WriteResult:
    """The outcome of writing `total` rows of which `inserted` were new."""
    return WriteResult(inserted=inserted, duplicates=total - inserted)


def dump_properties(value: dict[str, Any] | None) -> str | None:
    """`properties` as stored: compact JSON text with sorted keys, or NULL."""
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)


def load_properties(value: Any) -> dict[str, Any] | None:
    """`properties` as read back from a store (JSON text, or already a dict)."""
    if value is None or isinstance(value, dict):
        return value
    loaded = json.loads(value)
    return loaded if isinstance(loaded, dict) else None
