"""The `events` table to a Parquet or CSV file, streamed in batches: `blindai-telemetry export` and its endpoint.

Both stores hand their rows over as Arrow record batches (DuckDB's `to_arrow_reader`, clickhouse-connect's
Arrow stream), cast to the one schema of `stores._arrow` so that a file from either store reads the same, and
written by pyarrow batch by batch: memory stays at one batch whatever the table's size. The file is written
beside its destination under a temporary name and renamed when complete, so an export that fails leaves no
partial file where the operator expects a whole one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from blindai_telemetry.dashboard.filters import Dialect, Filters, where
from blindai_telemetry.stores._arrow import SCHEMA
from blindai_telemetry.stores.base import Store, StoreError

Format = Literal["parquet", "csv"]
FORMATS: tuple[str, ...] = get_args(Format)
MEDIA_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv; charset=utf-8"}
BATCH_ROWS = 65_536


def select(dialect: str, start: date | None = None, end: date | None = None, app: str | None = None) -> str:
    """The events of the range (days UTC, inclusive) and app, CI runs included, oldest first.

    `Filters` checks the values (ValueError: `from` after `to`, an app name that is not an identifier)."""
    f = Filters(start=start, end=end, app=app, include_ci=True)
    columns = ", ".join(SCHEMA.names)
    return f"SELECT {columns} FROM events {where(f, Dialect(dialect))} ORDER BY time, event_id"


def store_batches(store: Store, sql: str) -> Iterator[pa.RecordBatch]:
    """The rows of `sql` from a DuckDB or ClickHouse store, batch by batch."""
    from blindai_telemetry.stores.duckdb import DuckDBStore

    if isinstance(store, DuckDBStore):
        with store._errors("export events"):
            yield from store._cursor().sql(sql).to_arrow_reader(BATCH_ROWS)
        return
    if store.dialect == "clickhouse":
        from blindai_telemetry.stores.clickhouse import ClickHouseStore

        assert isinstance(store, ClickHouseStore)
        yield from store.arrow_stream(sql)
        return
    raise StoreError(f"{type(store).__name__} has no SQL: export needs a DuckDB or ClickHouse store")


def _conform(batch: pa.RecordBatch) -> pa.RecordBatch:
    """One schema whichever store it came from (ClickHouse's times carry a zone and ms, DuckDB's us)."""
    arrays = []
    for field in SCHEMA:
        column = batch.column(field.name)
        if pa.types.is_timestamp(field.type) and pa.types.is_timestamp(column.type) and column.type.tz:
            column = column.cast(pa.timestamp(column.type.unit))  # the same instant, as UTC without a zone
        # Not `safe` for times: a microsecond a seeded DuckDB row may carry is below what events hold (ms).
        arrays.append(column.cast(field.type, safe=not pa.types.is_timestamp(field.type)))
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


@contextmanager
def atomic_file(out: Path) -> Iterator[Path]:
    """A temporary path beside `out`, renamed to `out` when the block succeeds and removed when it fails."""
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def write(batches: Iterable[pa.RecordBatch], path: Path, fmt: Format) -> int:
    """Write `batches` to `path` (which must not be read until this returns); return the number of rows."""
    rows = 0
    writer: Any
    writer = pq.ParquetWriter(path, SCHEMA, compression="zstd") if fmt == "parquet" else pa_csv.CSVWriter(path, SCHEMA)
    with writer:
        for batch in batches:
            batch = _conform(batch)
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def export(store: Store, out: Path, fmt: Format, start: date | None = None, end: date | None = None,
           app: str | None = None) -> int:
    """The store's events (range and app as in `select`) to `out`, atomically; the number of rows written."""
    if store.dialect is None:
        raise StoreError(f"{type(store).__name__} has no SQL: export needs a DuckDB or ClickHouse store")
    sql = select(store.dialect, start, end, app)
    with atomic_file(out) as tmp:
        return write(store_batches(store, sql), tmp, fmt)
