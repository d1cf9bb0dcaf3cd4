"""Where the DuckDB store's CPU per event goes: its write timed in-process, phase by phase (issue 13).

`python -m benchmarks.ingest.store_write [--events N] [--group N] [--stored N] [--keys window|primary-key|none]`
turns the benchmark's own gzip batches into the rows the collector's validator hands the writer, cuts them into
group commits of `--group` events, and replays the store's statements on a real DuckDB file, timing each with
this process's CPU clock (every thread, DuckDB's included): the deduplication test, Arrow conversion,
registering the batch, the events INSERT, the key INSERT, COMMIT, and the idle checkpoints the writer asks for.
A final checkpoint is counted too, so a run that checkpoints less is not credited with the WAL it left behind.
`--keys window` is the store's deduplication (day tables without an index, membership in memory);
`primary-key` the design it replaced (one `event_keys` table whose PRIMARY KEY refuses a stored digest);
`none` leaves deduplication out, to see its share. `--stored` fills the file first (as a collector holding
that many events within the window would be), because index costs grow with it.
"""

from __future__ import annotations

import argparse
import gzip
import os
import tempfile
import time

import duckdb
import msgspec
import pyarrow as pa

from benchmarks.ingest.payloads import EVENTS_PER_BATCH, make_batches
from blindai_telemetry.collector.formats import native
from blindai_telemetry.collector.validate import check_rows
from blindai_telemetry.stores import _arrow, _duckdb_keys
from blindai_telemetry.stores import duckdb as store_sql

PHASES = ("dedup", "arrow", "register", "events", "keys", "commit", "checkpoint")
MODES = ("window", "primary-key", "none")
_DAY = 20_000  # the window's day table the run writes to
#: The design the window replaced, for comparison.
_CREATE_PRIMARY_KEY = "CREATE TABLE event_keys (key UUID PRIMARY KEY)"
_PRIMARY_KEY = "md5({})::UUID"


def checked_rows(events: int, seed: int) -> list[dict[str, object]]:
    """The rows the collector's validator makes of `events` native events."""
    rows: list[dict[str, object]] = []
    for body in make_batches(max(1, events // EVENTS_PER_BATCH), seed):
        decoded = native.decode(msgspec.json.decode(gzip.decompress(body)))
        rows.extend(check_rows(decoded.rows, source="native", received_at_ms=int(time.time() * 1000),
                               strict=False).rows)
    return rows


def _fill(conn: duckdb.DuckDBPyConnection, sample: list[dict[str, object]], stored: int, mode: str,
          window: _duckdb_keys.KeyWindow) -> None:
    """Store `stored` events (copies of `sample` with distinct ids) and their keys, then checkpoint."""
    conn.register("_sample", _arrow.to_table(sample))
    conn.execute("INSERT INTO events SELECT _sample.* REPLACE (event_id || '-' || r AS event_id)"
                 f" FROM _sample, range({max(1, stored // len(sample))}) copies(r)")
    conn.unregister("_sample")
    if mode == "primary-key":
        conn.execute(f"INSERT INTO event_keys SELECT {_PRIMARY_KEY.format('event_id')} FROM events")
    elif mode == "window":  # filed under the day before the run's: within the window, not the table written to
        conn.execute(f"CREATE TABLE {_duckdb_keys.table(_DAY - 1)} (key BLOB NOT NULL)")
        conn.execute(f"INSERT INTO {_duckdb_keys.table(_DAY - 1)}"
                     f" SELECT {_duckdb_keys.KEY_SQL.format('event_id')} FROM events")
        window.open(conn, _DAY)
    conn.execute("CHECKPOINT")


def _commit(conn: duckdb.DuckDBPyConnection, group: list[dict[str, object]], mode: str,
            window: _duckdb_keys.KeyWindow) -> dict[str, float]:
    """One group commit as `DuckDBStore.write` makes it; CPU seconds per phase."""
    clock = time.process_time
    spent = dict.fromkeys(PHASES, 0.0)
    started = clock()
    keys = [_duckdb_keys.key(str(row["event_id"])) for row in group] if mode == "window" else []
    if window.seen(conn, keys):
        raise AssertionError("the benchmark's events are all new")
    spent["dedup"], started = clock() - started, clock()
    table = _arrow.to_table(group)
    if mode == "window":
        table = table.append_column("_key", pa.array(keys, type=_duckdb_keys.KEY_TYPE))
    spent["arrow"], started = clock() - started, clock()
    if mode == "window":  # the store's way: DuckDB's replacement scan reads `_batch` from this frame
        _batch = table
    else:
        conn.register("_batch", table)
    conn.execute("BEGIN TRANSACTION")
    spent["register"], started = clock() - started, clock()
    conn.execute("INSERT INTO events SELECT * EXCLUDE (_key) FROM _batch" if mode == "window"
                 else "INSERT INTO events SELECT * FROM _batch")
    spent["events"], started = clock() - started, clock()
    if mode == "window":
        conn.execute(f"INSERT INTO {_duckdb_keys.table(_DAY)} SELECT _key FROM _batch")
    elif mode == "primary-key":
        conn.execute(f"INSERT INTO event_keys SELECT {_PRIMARY_KEY.format('event_id')} FROM _batch")
    spent["keys"], started = clock() - started, clock()
    conn.execute("COMMIT")
    if mode != "window":
        conn.unregister("_batch")
    if mode == "window":
        window.remember(_DAY, keys)
    spent["commit"] = clock() - started
    return spent


def run(events: int, group: int, stored: int, mode: str, idle_bytes: int, path: str) -> tuple[dict[str, float], int]:
    """CPU µs per event by phase over `events` events in commits of `group` into a new file at `path`; and the
    checkpoints taken."""
    rows = checked_rows(events, seed=13)
    conn = duckdb.connect(path)
    conn.execute(store_sql._CREATE_EVENTS)
    if mode == "primary-key":
        conn.execute(_CREATE_PRIMARY_KEY)
    conn.execute(f"SET checkpoint_threshold = '{store_sql.BUSY_CHECKPOINT_BYTES}B'")
    conn.execute("SET max_vacuum_tasks = 0")  # as the store's own checkpoints (DuckDBStore._checkpoint)
    window = _duckdb_keys.KeyWindow()
    if stored:
        _fill(conn, rows[:group], stored, mode, window)
    if mode == "window":
        window.roll(conn, _DAY)
    conn.register("_warm", _arrow.to_table(rows[:group]))  # pyarrow's first conversion imports modules
    conn.execute("SELECT count(*) FROM _warm").fetchall()
    conn.unregister("_warm")
    total = dict.fromkeys(PHASES, 0.0)
    checkpoints = 0
    for start in range(0, len(rows), group):
        for phase, seconds in _commit(conn, rows[start:start + group], mode, window).items():
            total[phase] += seconds
        started = time.process_time()
        if os.path.getsize(path + ".wal") >= idle_bytes:  # the writer's `maintain(idle=True)`
            conn.execute("CHECKPOINT")
            checkpoints += 1
        total["checkpoint"] += time.process_time() - started
    started = time.process_time()
    conn.execute("CHECKPOINT")
    total["checkpoint"] += time.process_time() - started
    conn.close()
    return {phase: seconds * 1e6 / len(rows) for phase, seconds in total.items()}, checkpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--group", type=int, default=450, help="events per commit (the collector: ~430-470)")
    parser.add_argument("--stored", type=int, default=0, help="events stored before the run")
    parser.add_argument("--keys", choices=MODES, action="append",
                        help="deduplication: the store's window, the PRIMARY KEY it replaced, none (repeatable;"
                             " default: window and primary-key, back to back)")
    parser.add_argument("--idle-checkpoint-bytes", type=int, default=store_sql.IDLE_CHECKPOINT_BYTES)
    args = parser.parse_args()
    for mode in args.keys or ["window", "primary-key"]:
        with tempfile.TemporaryDirectory(prefix="store-write-") as folder:  # hundreds of MB with --stored
            per_event, checkpoints = run(args.events, args.group, args.stored, mode, args.idle_checkpoint_bytes,
                                         os.path.join(folder, "bench.duckdb"))
        load = os.getloadavg()
        print(f"DuckDB store write, {args.events} events in commits of {args.group}, {args.stored} stored before,"
              f" deduplication {mode}, idle checkpoint from {args.idle_checkpoint_bytes >> 20} MB"
              f" ({checkpoints} + 1 final); load average {load[0]:.2f} {load[1]:.2f}")
        for phase, us in per_event.items():
            print(f"  {phase:<10} {us:6.2f} µs/event  {us * args.group / 1e3:6.2f} ms/commit")
        print(f"  {'total':<10} {sum(per_event.values()):6.2f} µs/event")

if __name__ == "__main__":
    main()
