"""The floor: what any Python collector must at least spend on a batch — gunzip, msgspec decode, Arrow, DuckDB append.

No HTTP, no validation, no deduplication, no key: each group of batches is flattened (the nested property objects
merged into the event) and appended to a DuckDB file through Arrow, one autocommitted `INSERT` (one WAL sync)
per group, as the collector commits a group. `run.py`'s floor phase times it in events/s; the CPU phase
(`cpu.py`) times it in process CPU per event (DuckDB's threads included) beside the collector's, per step, so
that a CPU target stated against the decode calibrator can be set against what the floor alone costs.
"""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import msgspec
import pyarrow as pa

from benchmarks.ingest.payloads import EVENTS_PER_BATCH

#: The nested objects of each format's events, merged into the event's top level.
NESTED = {"native": ("properties",), "amplitude": ("event_properties", "user_properties")}


@dataclass(frozen=True)
class FloorCpu:
    """CPU µs per event of each step of the floor."""

    events_per_commit: int
    decode_us: float  # gunzip + msgspec decode + flattening
    arrow_us: float  # `pa.Table.from_pylist`
    append_us: float  # `INSERT INTO events` + its commit (WAL sync)

    @property
    def total_us(self) -> float:
        return self.decode_us + self.arrow_us + self.append_us


def _rows(bodies: list[bytes], nested: tuple[str, ...]) -> list[dict[str, object]]:
    rows = []
    for body in bodies:
        for event in msgspec.json.decode(gzip.decompress(body))["events"]:
            for name in nested:
                event.update(event.pop(name))
            rows.append(event)
    return rows


def _append(con: duckdb.DuckDBPyConnection, table: pa.Table, created: bool) -> None:
    con.register("arrow_batch", table)
    con.execute("INSERT INTO events SELECT * FROM arrow_batch" if created
                else "CREATE TABLE events AS SELECT * FROM arrow_batch")
    con.unregister("arrow_batch")


def append(path: Path, batches: list[bytes], group: int, fmt: str = "native") -> None:
    """Append `batches` to a new DuckDB file at `path`, `group` batches a commit (the floor phase, timed outside)."""
    con = duckdb.connect(str(path))
    for i in range(0, len(batches), group):
        _append(con, pa.Table.from_pylist(_rows(batches[i:i + group], NESTED[fmt])), created=i > 0)
    con.close()


def cpu(path: Path, batches: list[bytes], group: int, fmt: str) -> FloorCpu:
    """The floor of `batches` on a new DuckDB file at `path`, `group` batches a commit: process CPU per event.

    The first group makes the table and warms pyarrow and DuckDB up, untimed; the others are timed (`batches`
    repeated when they make fewer than three groups: the floor does not deduplicate)."""
    batches = batches * -(-3 * group // len(batches))
    con = duckdb.connect(str(path))
    _append(con, pa.Table.from_pylist(_rows(batches[:group], NESTED[fmt])), created=False)
    spent = [0.0, 0.0, 0.0]
    for i in range(group, len(batches), group):
        t0 = time.process_time()
        rows = _rows(batches[i:i + group], NESTED[fmt])
        t1 = time.process_time()
        table = pa.Table.from_pylist(rows)
        t2 = time.process_time()
        _append(con, table, created=True)
        t3 = time.process_time()
        spent[0] += t1 - t0
        spent[1] += t2 - t1
        spent[2] += t3 - t2
    con.close()
    per_event = 1e6 / (max(1, len(batches) - group) * EVENTS_PER_BATCH)
    return FloorCpu(group * EVENTS_PER_BATCH, *(s * per_event for s in spent))
