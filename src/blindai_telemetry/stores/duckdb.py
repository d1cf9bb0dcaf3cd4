"""`DuckDBStore`: the default store, one embedded DuckDB file owned by one collector process.

Writes take a whole batch as one Arrow table inserted with `INSERT ... SELECT` (RESEARCH.md §4: ~1.8 M
rows/s, against ~1 k rows/s for `executemany`), in one transaction, so a batch is stored whole or not at
all. Durability: DuckDB appends every commit to the `.wal` file next to the database and syncs it before
the commit returns (its `WriteAheadLog::Flush`; strace of one `write()` shows exactly one `fdatasync` of the
`.wal`), so a row is on disk when `write()` returns, and a restart after `kill -9` replays the WAL.
`close()` checkpoints, folding the WAL into the file.

Checkpoints: DuckDB folds the WAL into the file inside whichever commit pushes the WAL past
`checkpoint_threshold` (16 MB by default), and every batch of that commit waited for it (66-380 ms here,
most of the collector's p99). The threshold is raised to `BUSY_CHECKPOINT_BYTES` (a bound that only a
writer never idle reaches), and the collector's writer calls `maintain(idle=True)` when no batch is waiting,
which checkpoints from `IDLE_CHECKPOINT_BYTES` on: checkpoints taken when nobody waits for one. Why 16 MB and
not 4: when the deduplication keys had a PRIMARY KEY table, every checkpoint rewrote its whole index (~100 ms of
CPU with 2 M events stored, however little the WAL held), and checkpointing from 4 MB cost the store 42 µs an
event against 34 µs from 16 MB (`python -m benchmarks.ingest.store_write --stored 2000000`, back to back,
twice). The key tables have no index since the window below (a checkpoint without one: ~2 ms); the bound was not
measured again. A restart after kill -9 replays whatever WAL there is, so this moves no durability.
The store's checkpoints (idle, busy and at close) skip DuckDB's vacuum (`max_vacuum_tasks = 0` for the
statement): a checkpoint writes the rows appended since the last one as a new row group, and the vacuum then
merged the small row groups into full ones, holding them in memory uncompressed: RSS rose 50, 100, then 160 MB
during the checkpoints at 126 k, 252 k and 378 k events stored, and the writer spent ~17 % more CPU (400,000
events in 500-event commits, in process). Row groups stay as each checkpoint wrote them (~42,000 rows at 16 MB
of WAL; a full one holds 122,880): a scan of 2 M rows grouped by day took the same time either way (98-127
against 109-121 ms). Once many small row groups exist, a vacuum merges them all at once (2 M rows in 48 row
groups: +450 MB of RSS, 2.2 s of CPU), so no checkpoint of this store may run one: a busy writer checkpoints
itself from half of `BUSY_CHECKPOINT_BYTES`, before DuckDB's own checkpoint (which would vacuum) fires inside a
commit. A row group whose rows are all deleted (what retention makes: events arrive in time order) is dropped
without the vacuum; the rows of a partly deleted one (a deletion request) stay marked deleted in it.

Deduplication: a bounded window (`_duckdb_keys`): an event_id is recognised for `WINDOW_DAYS` (7) to 8 days
after its first copy arrived, as Amplitude deduplicates `insert_id` over 7 days, across restarts and kill -9
(its key is written in the transaction of its event). Before the window, an `event_keys` table whose PRIMARY
KEY held every digest ever stored did the test, and its cost grew with the store: DuckDB rewrites a changed ART
index whole at each checkpoint (its issue #24848), and an ART insert per event was the writer's largest
statement. Measured with `python -m benchmarks.ingest.store_write` (60,000 events in commits of 450, CPU per
event, `--stored 0` and `--stored 2000000`, back to back, load average 4.2): with the PRIMARY KEY table, 19.4
us on an empty file and 26.7 us with 2 M events stored; with the window, 15.4 us and 17.6 us, of which the set
lookup is 1 us (and ~1.4 us of the cut is reading the batch through DuckDB's replacement scan rather than a
registered view, see `_insert`). Memory: ~9-17 bytes per key in the window (8-byte prefixes in a sorted
array, see `_duckdb_keys`; a set of the digests held ~82), where the PRIMARY KEY's ART held ~100 per key of all
time. A store made before the window is migrated at open (its keys are filed under the day of the migration).
`events` itself keeps no index: its per-block min/max (zonemaps) prune by `time`, because events arrive roughly
in time order.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import duckdb
import pyarrow as pa

from blindai_telemetry.stores import _arrow, _duckdb_keys, _rows
from blindai_telemetry.stores.base import EVENT_COLUMNS, Deletion, Row, Store, StoreError, WriteResult

logger = logging.getLogger("blindai_telemetry.stores.duckdb")

_SQL_TYPES = {"VARCHAR": "VARCHAR", "TIMESTAMP": "TIMESTAMP", "DOUBLE": "DOUBLE", "BIGINT": "BIGINT",
              "INTEGER": "INTEGER", "BOOLEAN": "BOOLEAN", "JSON": "JSON"}


def _column_sql(name: str, kind: str, nullable: bool) -> str:
    return f"{name} {_SQL_TYPES[kind]}{'' if nullable else ' NOT NULL'}"


_CREATE_EVENTS = "CREATE TABLE IF NOT EXISTS events (\n  {}\n)".format(
    ",\n  ".join(_column_sql(c.name, c.type, c.nullable) for c in EVENT_COLUMNS)
)
_CREATE_DELETIONS = """CREATE TABLE IF NOT EXISTS deletions (
  id VARCHAR PRIMARY KEY, status VARCHAR NOT NULL, requested_at_ms BIGINT NOT NULL,
  install_count INTEGER NOT NULL, done_at_ms BIGINT, events_deleted BIGINT
)"""
#: `rows()` hands times back as Unix ms, like the rows that were written.
_SELECT_ROWS = ", ".join(
    f"epoch_ms({c.name}) AS {c.name}" if c.type == "TIMESTAMP" else c.name for c in EVENT_COLUMNS
)
_IDS = "(SELECT unnest(?::VARCHAR[]))"
#: WAL size from which an idle writer checkpoints (~40k events; DuckDB's own default threshold).
IDLE_CHECKPOINT_BYTES = 16 << 20
#: WAL size from which DuckDB checkpoints inside a commit: only reached when the writer is never idle.
BUSY_CHECKPOINT_BYTES = 64 << 20
#: How long close() waits for reads it interrupted to let go of the connection, seconds.
CLOSE_TIMEOUT = 10.0


class DuckDBStore(Store):
    """Events in a DuckDB file. One writer thread at a time; reads from any thread through cursors."""

    dialect = "duckdb"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            self._conn = duckdb.connect(self.path)
        except duckdb.IOException as exc:
            raise StoreError(
                f"cannot open the DuckDB file {self.path!r}: {exc}. A DuckDB file is owned by one process: "
                "stop the other collector using it, or give this one another --db path."
            ) from exc
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the DuckDB file {self.path!r}: {exc}") from exc
        # Guards the write connection; readers take their own cursor (DuckDB connections are not shareable
        # between threads, cursors of one database are).
        self._lock = threading.Lock()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._closed = False
        #: Set by a fatal error, after which DuckDB refuses every statement until the database is opened again.
        self._invalidated = False
        #: Bumped at each reopening: a reader's cursor from an older generation belongs to a closed connection.
        self._generation = 0
        #: Bumped by every write, deletion or checkpoint: the dashboard's rollup skips its check of the events
        #: while it has not moved (this process is the file's only writer).
        self.changes = 0
        try:
            with self._errors("create the schema"):
                self._conn.execute(_CREATE_EVENTS)
                self._conn.execute(_CREATE_DELETIONS)
                self._conn.execute(f"SET checkpoint_threshold = '{BUSY_CHECKPOINT_BYTES}B'")
                self._keys = _duckdb_keys.KeyWindow()
                self._keys.open(self._conn, _duckdb_keys.today())
        except StoreError:
            self._conn.close()  # release the file: the caller gets no store to close
            raise

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn DuckDB's errors (disk full, invalidated database, closed store) into StoreError."""
        if self._closed:
            raise StoreError(f"cannot {doing}: the store is closed")
        try:
            yield
        except duckdb.Error as exc:
            if isinstance(exc, duckdb.FatalException) and not self._invalidated:
                # E.g. a checkpoint that hit a full disk: DuckDB then invalidates the whole database, and every
                # later statement fails, even once the disk has room again. Reopened at the next use (`_revive`).
                logger.warning("DuckDB invalidated %r after a fatal error; reopening it at the next use: %s",
                               self.path, exc)
                self._invalidated = True
            raise StoreError(f"cannot {doing} in {self.path!r}: {exc}") from exc

    @contextmanager
    def _writing(self, doing: str) -> Iterator[None]:
        """Hold the write connection (reopened first if DuckDB invalidated it), errors as StoreError."""
        with self._lock, self._errors(doing):
            self._revive()
            try:
                yield
            finally:
                if doing != "read":  # a reader's cursor is made under this lock too, and changes nothing
                    self.changes += 1

    def _revive(self) -> None:
        """Reopen the database after a fatal error (caller holds the lock).

        Without this, a collector whose disk filled up during a checkpoint answered 503 to every batch until it
        was restarted. Reopening replays the WAL, so every acknowledged event is kept; if it fails (the disk is
        still full), the store stays invalidated and the next use tries again.
        """
        if not self._invalidated:
            return
        for cursor in self._cursors:
            with suppress(duckdb.Error):
                cursor.close()
        self._cursors.clear()
        with suppress(duckdb.Error):
            self._conn.close()
        self._conn = duckdb.connect(self.path)
        self._conn.execute(f"SET checkpoint_threshold = '{BUSY_CHECKPOINT_BYTES}B'")
        # The replayed WAL decides which events are stored, whatever the last failing commit did.
        self._keys.open(self._conn, _duckdb_keys.today())
        self._invalidated = False
        self._generation += 1
        logger.warning("reopened %r (its WAL replayed) after a fatal error", self.path)

    def write(self, rows: Sequence[Row]) -> WriteResult:
        unique, _ = _rows.normalise_batch(rows)  # ValueError before anything is written
        if not unique:
            return _rows.result(0, len(rows))
        keys = [_duckdb_keys.key(row["event_id"]) for row in unique]
        table = _arrow.to_table(unique).append_column("_key", pa.array(keys, type=_duckdb_keys.KEY_TYPE))
        with self._writing("write events"):
            day = _duckdb_keys.today()
            self._keys.roll(self._conn, day)
            seen = self._keys.seen(self._conn, keys)
            if seen:  # a retry: keep the events stored for the first time
                keys = [k for k in keys if k not in seen]
                table = table.filter(pa.array([k not in seen for k in table.column("_key").to_pylist()]))
            if keys:
                self._insert(table, day)
                self._keys.remember(day, keys)
        return _rows.result(len(keys), len(rows))

    def _insert(self, table: pa.Table, day: int) -> None:
        """Store the events of `table` and their keys (its `_key` column), in one transaction."""
        # DuckDB reads `_batch` from this frame (its replacement scan of Python variables): registering the
        # table as a view and unregistering it cost ~3 us an event more (450-event commits, store_write).
        _batch = table
        with self._transaction():
            self._conn.execute("INSERT INTO events SELECT * EXCLUDE (_key) FROM _batch")
            self._conn.execute(f"INSERT INTO {_duckdb_keys.table(day)} SELECT _key FROM _batch")

    def maintain(self, idle: bool) -> None:
        """Checkpoint when the writer is idle and the WAL has grown, or before DuckDB's own checkpoint would run
        inside a commit (with its vacuum) when the writer is never idle (see the module docstring)."""
        try:
            wal = os.path.getsize(self.path + ".wal")
        except OSError:  # no WAL: nothing written since the last checkpoint
            return
        if wal >= (IDLE_CHECKPOINT_BYTES if idle else BUSY_CHECKPOINT_BYTES // 2):
            with self._writing("checkpoint"):
                self._checkpoint()

    def _checkpoint(self) -> None:
        """CHECKPOINT without DuckDB's vacuum (see the module docstring)."""
        # A global setting, set for this statement only: the dashboard's in-memory rollup (it deletes and inserts
        # again the rows of the days that changed) keeps its vacuums.
        self._conn.execute("SET max_vacuum_tasks = 0")
        try:
            self._conn.execute("CHECKPOINT")
        finally:
            self._conn.execute("RESET max_vacuum_tasks")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One commit (one WAL sync) for several statements; nothing of them stays if one fails."""
        self._conn.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _forget(self, where: str, params: list[Any]) -> tuple[int, list[bytes]]:
        """Delete the events matching `where` and their keys (so a store keeps nothing of them), inside the
        caller's transaction; return how many events, and the keys for `KeyWindow.forget` once committed."""
        gone = self._keys.delete(self._conn, where, params)
        deleted = self._conn.execute(f"DELETE FROM events WHERE {where}", params).fetchone()
        return (int(deleted[0]) if deleted else 0), gone

    def delete_installs(self, install_ids: Sequence[str]) -> int:
        ids = list(install_ids)
        if not ids:
            return 0
        with self._writing("delete installs"):
            with self._transaction():
                deleted, gone = self._forget(f"install_id IN {_IDS}", [ids])
                self._conn.execute(f"UPDATE events SET client_install_id = NULL WHERE client_install_id IN {_IDS}",
                                   [ids])
            self._keys.forget(gone)  # only once committed: a deletion rolled back keeps its keys
        return deleted

    def delete_older_than(self, cutoff_ms: int) -> int:
        with self._writing("delete old events"):
            with self._transaction():
                deleted, gone = self._forget("time < epoch_ms(?::BIGINT)", [cutoff_ms])
            self._keys.forget(gone)
        return deleted

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own connection to the database: reads never wait for the writer's lock after the first."""
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None or self._invalidated or self._local.generation != self._generation:
            with self._writing("read"):
                cursor = self._conn.cursor()  # made under the lock: the write connection is not shareable
                self._cursors.append(cursor)
                self._local.generation = self._generation
            self._local.cursor = cursor
        return cursor

    def _read(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._errors("read"):
            cursor = self._cursor()
            cursor.execute(sql, list(params))
            names = [d[0] for d in cursor.description or ()]
            return names, cursor.fetchall()

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        names, tuples = self._read(sql, params)
        return [dict(zip(names, t, strict=True)) for t in tuples]

    def summary(self) -> dict[str, int]:
        _, tuples = self._read(
            "SELECT count(*), count(DISTINCT install_id), count(DISTINCT install_id) FILTER (WHERE mode IS NOT NULL),"
            " count(DISTINCT client_install_id), epoch_ms(min(time)), epoch_ms(max(time)) FROM events"
        )
        events, installs, servers, clients, first, last = tuples[0]
        out = {"events": events, "installs": installs, "servers": servers, "clients": clients}
        if events:
            out["first_time_ms"], out["last_time_ms"] = first, last
        return out

    def rows(self, install_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        where, params = ("WHERE install_id = ?", [install_id]) if install_id is not None else ("", [])
        names, tuples = self._read(
            f"SELECT {_SELECT_ROWS} FROM events {where} ORDER BY time, event_id LIMIT ?", [*params, limit]
        )
        out = []
        for t in tuples:
            row = dict(zip(names, t, strict=True))
            row["properties"] = _rows.load_properties(row["properties"])
            out.append(row)
        return out

    def record_deletion(self, deletion: Deletion) -> None:
        with self._writing("record a deletion"):
            self._conn.execute(
                "INSERT OR REPLACE INTO deletions VALUES (?, ?, ?, ?, ?, ?)",
                [deletion.id, deletion.status, deletion.requested_at_ms, deletion.install_count,
                 deletion.done_at_ms, deletion.events_deleted],
            )

    def get_deletion(self, deletion_id: str) -> Deletion | None:
        _, tuples = self._read("SELECT * FROM deletions WHERE id = ?", [deletion_id])
        if not tuples:
            return None
        id_, status, requested, count, done, deleted = tuples[0]
        return Deletion(id=id_, status=status, requested_at_ms=requested, install_count=count,
                        done_at_ms=done, events_deleted=deleted)

    def close(self) -> None:
        """Checkpoint (fold the WAL into the file) and release it. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            cursors = list(self._cursors)

            def stop_reads() -> None:
                # A read running on another thread (the dashboard rollup's first build takes seconds at 10 M
                # events) is stopped; until it has unwound, its cursor and the connection refuse to close.
                for cursor in cursors:
                    with suppress(duckdb.Error):
                        cursor.interrupt()

            deadline = time.monotonic() + CLOSE_TIMEOUT
            for cursor in cursors:
                _when_idle(cursor.close, stop_reads, deadline)
            try:
                _when_idle(self._checkpoint, stop_reads, deadline)
            except duckdb.Error:  # the data is safe in the WAL regardless; the next open replays it
                pass
            finally:
                _when_idle(self._conn.close, stop_reads, deadline)


def _when_idle(call: Callable[[], object], stop_reads: Callable[[], None], deadline: float) -> None:
    """`call()` once the reads in flight are stopped: retried while DuckDB refuses because a read is still
    unwinding (it refuses rather than waits), until `deadline`; then the last refusal is raised."""
    while True:
        stop_reads()  # again each time: a read may have started between two tries
        try:
            call()
            return
        except duckdb.ResourceInUseException:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)  # an interrupted query unwinds within milliseconds
