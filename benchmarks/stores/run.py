"""Measures the stores and prints figures with their ratio to a floor measured in the same run.

- write: `Store.write` in batches of 100 / 1,000 / 10,000 rows (dict rows in, as from the collector), for
  DuckDB and ClickHouse (chDB); floor: the same batches as ready-made Arrow tables inserted straight into a
  table without a key (DuckDB `INSERT ... SELECT`, chDB `insert_arrow`) — what is left is our checks, the
  Arrow build and deduplication.
- dedup: the same rows written again (all duplicates), and what the DuckDB `event_id` key costs at scale.
- delete: `delete_installs` of one install (its events and the client ids naming it) among `--rows` rows.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from benchmarks.stores.data import bulk_table, install_ids, make_rows
from blindai_telemetry.stores import Store, _duckdb_keys
from blindai_telemetry.stores._arrow import to_table
from blindai_telemetry.stores._rows import normalise
from blindai_telemetry.stores.clickhouse import ClickHouseStore
from blindai_telemetry.stores.duckdb import DuckDBStore

BATCHES = (100, 1_000, 10_000)


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _batches(rows: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def _write_all(store: Store, batches: list[Sequence[Any]]) -> None:
    for batch in batches:
        store.write(batch)


def _plain_duckdb(path: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(path))
    DuckDBStore(path.with_suffix(".schema")).close()  # borrow the exact column types, without the key
    conn.execute(f"ATTACH '{path.with_suffix('.schema')}' AS s (READ_ONLY)")
    conn.execute("CREATE TABLE events AS SELECT * FROM s.events LIMIT 0")
    conn.execute("DETACH s")
    return conn


def _duckdb_floor(conn: duckdb.DuckDBPyConnection, tables: list[pa.Table]) -> None:
    for table in tables:
        conn.register("t", table)
        conn.execute("INSERT INTO events SELECT * FROM t")
        conn.unregister("t")


def _line(name: str, rows: int, seconds: float, floor: float | None = None) -> float:
    rate = rows / seconds
    ratio = f"   {floor / rate:5.2f}x the floor's time" if floor else ""
    print(f"  {name:<46} {rate:>12,.0f} rows/s  ({seconds * 1000:8.1f} ms){ratio}")
    return rate


def _bench_size(tmp: Path, size: int, n: int, installs: list[str]) -> None:
    rows = make_rows(n, installs, seed=size)
    batches = _batches(rows, size)
    tables: list[pa.Table] = []
    checks = _timed(lambda: tables.extend(to_table([normalise(r) for r in b]) for b in batches))
    print(f" batches of {size:,} ({n:,} rows, {len(batches)} commits)")
    _line("our row checks + Arrow build alone (no store)", n, checks)
    with _plain_duckdb(tmp / f"floor{size}.duckdb") as conn:
        floor = _line("floor: Arrow -> DuckDB, no key", n, _timed(lambda: _duckdb_floor(conn, tables)))
    store = DuckDBStore(tmp / f"w{size}.duckdb")
    _line("DuckDBStore.write", n, _timed(lambda: _write_all(store, batches)), floor)
    _line("DuckDBStore.write, all duplicates", n, _timed(lambda: _write_all(store, batches)), floor)
    store.close()

    chdb = ClickHouseStore.from_chdb(str(tmp / "chdb"), database=f"floor{size}")
    chdb._client.command("CREATE TABLE plain AS events ENGINE = MergeTree ORDER BY tuple()")
    cfloor = _line("floor: Arrow -> chDB insert_arrow, no dedup", n,
                   _timed(lambda: [chdb._client.insert_arrow("plain", t) for t in tables]))
    chdb.close()
    chdb = ClickHouseStore.from_chdb(str(tmp / "chdb"), database=f"w{size}")
    _line("ClickHouseStore(chDB).write", n, _timed(lambda: _write_all(chdb, batches)), cfloor)
    _line("ClickHouseStore(chDB).write, all duplicates", n, _timed(lambda: _write_all(chdb, batches)), cfloor)
    chdb.close()


def bench_writes(tmp: Path, write_rows: int, installs: list[str]) -> None:
    print(f"\nWrite throughput through Store.write (dict rows in), up to {write_rows:,} rows per batch size")
    for size in BATCHES:
        _bench_size(tmp, size, min(write_rows, size * 200), installs)  # at most 200 commits: a short run


def bench_scale(tmp: Path, total: int, installs: list[str]) -> None:
    print(f"\nAt scale: {total:,} rows already stored ({len(installs):,} installs)")
    table = bulk_table(total, installs)
    batch = make_rows(10_000, installs, seed=99)
    batch_table = to_table([normalise(r) for r in make_rows(10_000, installs, seed=97)])

    def insert(conn: duckdb.DuckDBPyConnection, sql: str, arrow: pa.Table) -> float:
        conn.register("t", arrow)
        try:
            return _timed(lambda: conn.execute(sql))
        finally:
            conn.unregister("t")

    plain = _plain_duckdb(tmp / "nokey.duckdb")
    load_plain = insert(plain, "INSERT INTO events SELECT * FROM t", table)
    add_plain = insert(plain, "INSERT INTO events SELECT * FROM t", batch_table)
    plain.close()
    store = DuckDBStore(tmp / "scale.duckdb")
    day_table, key = _duckdb_keys.table(_duckdb_keys.today()), _duckdb_keys.KEY_SQL.format("event_id")
    keys = f"INSERT INTO {day_table} SELECT {key} FROM t"
    load_key = insert(store._conn, "INSERT INTO events SELECT * FROM t", table) + insert(store._conn, keys, table)
    store.close()
    store = DuckDBStore(tmp / "scale.duckdb")  # loads the keys into its window, as at a restart
    print(f"  DuckDB bulk load of {total:,} rows: no key {load_plain:.2f} s, with the deduplication keys "
          f"{load_key:.2f} s ({load_key / load_plain:.2f}x)")
    write = _timed(lambda: store.write(batch))
    dup = _timed(lambda: store.write(batch))
    print(f"  DuckDB a 10,000-row batch on top: Arrow insert, no key {add_plain * 1000:.1f} ms; "
          f"DuckDBStore.write {write * 1000:.1f} ms ({write / add_plain:.2f}x); the same again (all duplicates) "
          f"{dup * 1000:.1f} ms")
    fresh = make_rows(10_000, installs, seed=98)
    size = store.fetch("SELECT database_size, memory_usage FROM pragma_database_size()")[0]
    print(f"  DuckDB file {size['database_size']}, memory in use {size['memory_usage']}")
    victim = installs[0]
    seconds = _timed(lambda: store.delete_installs([victim]))
    print(f"  DuckDB delete_installs(one install): {seconds * 1000:.1f} ms")
    store.close()

    chdb = ClickHouseStore.from_chdb(str(tmp / "chdb"), database="scale")
    load = _timed(lambda: chdb._client.insert_arrow("events", table))
    print(f"  chDB bulk load of {total:,} rows (Arrow, the events table's indexes): {load:.2f} s")
    write = _timed(lambda: chdb.write(fresh))
    dup = _timed(lambda: chdb.write(fresh))
    print(f"  ClickHouseStore(chDB).write of 10,000 new rows: {write * 1000:.1f} ms; the same again "
          f"(all duplicates) {dup * 1000:.1f} ms")
    final = _timed(chdb.summary)
    print(f"  chDB summary() (FINAL, exact distinct counts): {final * 1000:.1f} ms")
    daily = "SELECT toDate(time) AS day, count() AS n FROM events WHERE event = 'model_run' GROUP BY day"
    with_final = _timed(lambda: chdb.fetch(daily))  # fetch() reads with the `final` setting
    without = _timed(lambda: chdb._client.query(daily))
    print(f"  chDB daily counts over 90 days: {with_final * 1000:.1f} ms through fetch() (FINAL), "
          f"{without * 1000:.1f} ms without FINAL ({with_final / without:.2f}x)")
    seconds = _timed(lambda: chdb.delete_installs([victim]))
    print(f"  chDB delete_installs(one install): {seconds * 1000:.1f} ms")
    chdb.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stores", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows stored before the scale figures")
    parser.add_argument("--write-rows", type=int, default=100_000, help="rows written per batch size")
    parser.add_argument("--installs", type=int, default=10_000)
    args = parser.parse_args(argv)
    installs = install_ids(args.installs)
    to_table([normalise(r) for r in make_rows(10, installs)])  # pyarrow's first conversion pays ~0.3 s of set-up
    with tempfile.TemporaryDirectory(prefix="bench-stores-") as tmp:
        bench_writes(Path(tmp), args.write_rows, installs)
        bench_scale(Path(tmp), args.rows, installs)


if __name__ == "__main__":
    main()
