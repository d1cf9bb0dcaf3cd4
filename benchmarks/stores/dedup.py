"""Which DuckDB deduplication holds up at scale: `python -m benchmarks.stores.dedup [--rows 10000000]`.

Fills three DuckDB files with the same `--rows` events, then times 1,000-row writes of recent events (new,
then the same again) against each design:
- text key: `event_id VARCHAR PRIMARY KEY` on `events`, `INSERT OR IGNORE`;
- digest key (what DuckDBStore did before its 7-day window of keys, issue 13; the window is measured against it
  by `python -m benchmarks.ingest.store_write`): `event_keys(key UUID PRIMARY KEY)` holding `md5(event_id)::UUID`;
- window anti-join: no key; insert the batch's rows whose event_id is absent among stored events within the
  batch's time range (cheap while events arrive in time order, but not exact: see duckdb.py).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from benchmarks.stores.data import START_MS, bulk_table, install_ids, make_rows
from blindai_telemetry.stores._arrow import to_table
from blindai_telemetry.stores._rows import normalise
from blindai_telemetry.stores.duckdb import DuckDBStore

CHUNK = 1_000_000
_WINDOW = ("INSERT INTO events SELECT b.* FROM _batch b WHERE b.event_id NOT IN (SELECT event_id FROM events"
           " WHERE time BETWEEN epoch_ms(?::BIGINT) AND epoch_ms(?::BIGINT))")


def _fill(path: Path, rows: int, installs: list[str], design: str) -> duckdb.DuckDBPyConnection:
    DuckDBStore(path).close()  # the public schema
    conn = duckdb.connect(str(path))
    if design == "digest key":
        conn.execute("CREATE TABLE event_keys (key UUID PRIMARY KEY)")
    if design == "text key":
        conn.execute("CREATE TABLE keyed AS SELECT * FROM events LIMIT 0")
        conn.execute("DROP TABLE events")
        conn.execute("ALTER TABLE keyed RENAME TO events")
        conn.execute("ALTER TABLE events ADD PRIMARY KEY (event_id)")
    for i in range(0, rows, CHUNK):
        conn.register("t", bulk_table(min(CHUNK, rows - i), installs, seed=100 + i))
        conn.execute("INSERT INTO events SELECT * FROM t")
        if design == "digest key":
            conn.execute("INSERT INTO event_keys SELECT md5(event_id)::UUID FROM t")
        conn.unregister("t")
    conn.execute("CHECKPOINT")
    return conn


def _write(conn: duckdb.DuckDBPyConnection, design: str, batch: pa.Table, lo: int, hi: int) -> None:
    conn.register("_batch", batch)
    conn.execute("BEGIN")
    if design == "text key":
        conn.execute("INSERT OR IGNORE INTO events SELECT * FROM _batch")
    elif design == "digest key":
        new = conn.execute("INSERT OR IGNORE INTO event_keys SELECT md5(event_id)::UUID FROM _batch RETURNING key")
        if len(new.fetchall()) == batch.num_rows:
            conn.execute("INSERT INTO events SELECT * FROM _batch")
    else:
        conn.execute(_WINDOW, [lo, hi])
    conn.execute("COMMIT")
    conn.unregister("_batch")


def _time_writes(conn: duckdb.DuckDBPyConnection, design: str, batches: list[tuple[pa.Table, int, int]]) -> list[float]:
    times = []
    for batch in batches:
        start = time.perf_counter()
        _write(conn, design, *batch)
        times.append(time.perf_counter() - start)
    return times


def _summary(times: list[float]) -> str:
    times = sorted(times)
    return (f"median {statistics.median(times) * 1000:7.1f} ms, p90 {times[int(len(times) * 0.9)] * 1000:7.1f} ms,"
            f" max {times[-1] * 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stores.dedup", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--writes", type=int, default=40)
    args = parser.parse_args()
    installs = install_ids(10_000)
    rng = random.Random(7)
    end = START_MS + 90 * 86_400_000
    batches = []
    for i in range(args.writes):
        rows = [normalise(r) for r in make_rows(1_000, installs, seed=10_000 + i)]
        for r in rows:
            r["time"] = end + i * 2_000 - rng.randrange(60_000)  # recent: the last minute
        batches.append((to_table(rows), min(r["time"] for r in rows), max(r["time"] for r in rows)))
    print(f"DuckDB dedup designs, {args.rows:,} rows stored, {args.writes} writes of 1,000 recent rows")
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as tmp:
        for design in ("text key", "digest key", "window anti-join"):
            path = Path(tmp) / f"{design.replace(' ', '_')}.duckdb"
            start = time.perf_counter()
            conn = _fill(path, args.rows, installs, design)
            filled = time.perf_counter() - start
            new = _time_writes(conn, design, batches)
            again = _time_writes(conn, design, batches)
            size, memory = conn.execute("SELECT database_size, memory_usage FROM pragma_database_size()").fetchone()
            conn.close()
            print(f"  {design:<17} fill {filled:6.1f} s | new: {_summary(new)} | duplicates: {_summary(again)}"
                  f" | file {size}, memory {memory}")


if __name__ == "__main__":
    main()
