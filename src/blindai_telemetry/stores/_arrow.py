"""Builds one pyarrow Table from checked rows: how the SQL stores take a batch in a single statement.

Columnar on purpose: one `pa.array` per column from a list comprehension is several times faster than
`Table.from_pylist`, and the explicit schema means a value of the wrong type can never be guessed into one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from blindai_telemetry.stores import _rows
from blindai_telemetry.stores.base import EVENT_COLUMNS

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "TIMESTAMP": pa.timestamp("ms"),  # Unix ms in, UTC by convention (no zone: no local-time surprises)
    "DOUBLE": pa.float64(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "BOOLEAN": pa.bool_(),
    "JSON": pa.string(),  # JSON text; each store declares the column as its JSON-ish type
}

SCHEMA = pa.schema([pa.field(c.name, _ARROW_TYPES[c.type], nullable=c.nullable) for c in EVENT_COLUMNS])


def to_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """The checked rows (see `_rows.normalise`) as a Table of the `events` schema."""
    arrays = []
    for column, field in zip(EVENT_COLUMNS, SCHEMA, strict=True):
        name = column.name
        if column.type == "JSON":
            values = [_rows.dump_properties(row[name]) for row in rows]
        else:
            values = [row[name] for row in rows]
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)
