"""Builds one pyarrow Table from checked rows: how the SQL stores take a batch in a single statement.

Columnar on purpose: one `pa.array` per column from a list comprehension is several times faster than
`Table.from_pylist`, and the explicit schema means a value of the wrong type can never be guessed into one.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
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


class _PandasAbsent(importlib.abc.MetaPathFinder):
    """An import finder that answers `import pandas` with ModuleNotFoundError (see `_settle_pandas_probe`)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: object = None) -> ModuleSpec | None:
        if fullname == "pandas":
            raise ModuleNotFoundError(f"{fullname} is not imported by the stores", name=fullname)
        return None


def _settle_pandas_probe() -> None:
    """Let pyarrow settle, without importing pandas, whether pandas is there.

    The first `pa.array()` of a list asks whether the list is a pandas object, and pyarrow imports pandas for that
    when it is installed (`_is_array_like` in its array.pxi; its C++ sequence converter does too, for pandas' null
    sentinels): +46 MB of the collector's RSS, for a process that never hands pyarrow a pandas object. Asked once
    here, on a list, while `import pandas` fails, pyarrow takes pandas as absent: `import pandas` works later, and
    so do pyarrow's explicit pandas conversions (`to_pandas`, `from_pandas`: they import it when called, after
    which pyarrow knows pandas again). Until then a pandas Series given to `pa.array()` would be read as a plain
    sequence (NaN not taken as null); nothing here does that. Nothing changes when pandas is already imported.
    """
    if "pandas" in sys.modules:
        return
    finder = _PandasAbsent()
    sys.meta_path.insert(0, finder)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(finder)


_settle_pandas_probe()
