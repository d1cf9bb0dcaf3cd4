"""What only `DuckDBStore` promises: one owner per file, clear errors, the public table, concurrent reads."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import duckdb
import pytest

from blindai_telemetry.stores import EVENT_COLUMNS, StoreError, WriteResult, _duckdb_keys
from blindai_telemetry.stores import duckdb as duckdb_store
from blindai_telemetry.stores._rows import CheckedRows
from blindai_telemetry.stores.duckdb import IDLE_CHECKPOINT_BYTES, DuckDBStore

from .conftest import make_row


def test_a_file_owned_by_another_process_is_refused_with_a_clear_error(
        tmp_path: Path, duckdb_held_elsewhere: Callable[[Path], AbstractContextManager[None]]) -> None:
    path = tmp_path / "owned.duckdb"
    with duckdb_held_elsewhere(path), pytest.raises(StoreError, match="owned by one process"):
        DuckDBStore(path)
    DuckDBStore(path).close()  # free again once the owner exits


def test_an_unwritable_path_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        DuckDBStore(tmp_path / "no" / "such" / "dir" / "events.duckdb")


def test_the_events_table_has_the_public_schema(tmp_path: Path) -> None:
    """Users query `events` with plain SQL: exact columns in order, UTC TIMESTAMPs, JSON properties."""
    path = tmp_path / "events.duckdb"
    DuckDBStore(path).close()
    with duckdb.connect(str(path), read_only=True) as conn:
        described = conn.execute("DESCRIBE events").fetchall()
    assert [(name, kind) for name, kind, *_ in described] == [(c.name, c.type) for c in EVENT_COLUMNS]
    assert {name: null for name, _, null, *_ in described}["event_id"] == "NO"


def test_time_is_stored_as_utc_timestamp(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "events.duckdb")
    store.write([make_row(time=1_764_323_400_123)])
    (got,) = store.fetch("SELECT strftime(time, '%Y-%m-%d %H:%M:%S.%g') AS t FROM events")
    assert got["t"] == "2025-11-28 09:50:00.123"
    store.close()


def test_committed_rows_survive_without_close(tmp_path: Path) -> None:
    """Durable on return: a process that dies after write() without close() loses nothing (WAL replay)."""
    path = tmp_path / "events.duckdb"
    script = (
        "import sys, os\n"
        "from blindai_telemetry.stores.duckdb import DuckDBStore\n"
        "s = DuckDBStore(sys.argv[1])\n"
        "s.write([{'event_id': 'e1', 'event': 'server_started', 'time': 1, 'received_at': 2, 'install_id': 'i'}])\n"
        "os._exit(0)\n"  # no close, no checkpoint, no atexit
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60)
    store = DuckDBStore(path)
    assert [r["event_id"] for r in store.rows()] == ["e1"]
    store.close()


def test_reads_from_other_threads_while_the_writer_writes(tmp_path: Path) -> None:
    """The collector writes from one thread while the dashboard and /api read from others."""
    store = DuckDBStore(tmp_path / "events.duckdb")
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                count = store.summary()["events"]
                assert count % 100 == 0  # a batch is visible whole or not at all
                store.fetch("SELECT count(*) AS n FROM events WHERE event = ?", ["model_run"])
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        for _ in range(30):
            store.write([make_row() for _ in range(100)])
    finally:
        done.set()
        for t in readers:
            t.join(timeout=30)
    assert errors == []
    assert store.summary()["events"] == 3_000
    store.close()


def test_rows_the_validator_checked_are_deduplicated_exactly_like_any_other(tmp_path: Path) -> None:
    """`CheckedRows` skip the per-value checks, not deduplication: repeats in the batch and stored ids are dropped."""
    store = DuckDBStore(tmp_path / "trusted.duckdb")
    try:
        stored = make_row()
        assert store.write([stored]) == WriteResult(inserted=1, duplicates=0)
        first, fresh = make_row(), make_row()
        repeat = {**first, "app": "a repeat"}
        batch = CheckedRows([first, repeat, dict(stored), fresh])
        assert store.write(batch) == WriteResult(inserted=2, duplicates=2)
        rows = {r["event_id"]: r for r in store.rows()}
        assert set(rows) == {stored["event_id"], first["event_id"], fresh["event_id"]}
        assert rows[first["event_id"]]["app"] == first["app"]  # the first of a repeated id wins
        assert store.write(CheckedRows([dict(fresh)])) == WriteResult(inserted=0, duplicates=1)
    finally:
        store.close()


def _key_tables(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return {name for (name,) in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()
                if name.startswith("event_keys")}


def test_a_retry_counts_once_for_the_whole_window_across_restarts_then_its_key_is_dropped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys are kept per arrival day: a retry WINDOW_DAYS days later is still a duplicate (after a restart);
    once its day has left the window, the day's table is dropped and the id is stored as new."""
    path, day = tmp_path / "window.duckdb", 20_000
    monkeypatch.setattr(_duckdb_keys, "today", lambda: day)
    first, later = make_row(), make_row()
    store = DuckDBStore(path)
    assert store.write([first]) == WriteResult(inserted=1, duplicates=0)
    store.close()
    day += _duckdb_keys.WINDOW_DAYS
    store = DuckDBStore(path)
    try:
        assert store.write([dict(first), later]) == WriteResult(inserted=1, duplicates=1)
        day += 1  # the first day leaves the window while the store runs
        assert store.write([dict(first), dict(later)]) == WriteResult(inserted=1, duplicates=1)
        assert store.summary()["events"] == 3  # the id outside the window was stored again
    finally:
        store.close()
    assert _key_tables(path) == {f"event_keys_{d}" for d in (20_007, 20_008)}


def test_a_store_made_before_the_window_is_migrated_and_keeps_deduplicating(tmp_path: Path) -> None:
    """The single `event_keys` table of older stores (UUID digests under a PRIMARY KEY) becomes today's keys."""
    path = tmp_path / "old.duckdb"
    DuckDBStore(path).close()
    stored = make_row()
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE event_keys (key UUID PRIMARY KEY)")
        conn.execute("INSERT INTO event_keys VALUES (md5(?)::UUID)", [stored["event_id"]])
    store = DuckDBStore(path)
    try:
        assert store.write([stored, make_row()]) == WriteResult(inserted=1, duplicates=1)
    finally:
        store.close()
    assert _key_tables(path) == {f"event_keys_{_duckdb_keys.today()}"}


def test_checkpoints_wait_for_an_idle_writer_and_lose_nothing(tmp_path: Path) -> None:
    """Commits do not checkpoint at the idle threshold; `maintain(idle=True)` folds a grown WAL into the file."""
    store = DuckDBStore(tmp_path / "cp.duckdb")
    wal = Path(store.path + ".wal")
    try:
        for _ in range(100):  # bounded: ~12 writes of 2,000 rows fill the WAL past the threshold
            store.write([make_row() for _ in range(2_000)])
            if wal.stat().st_size >= IDLE_CHECKPOINT_BYTES:
                break
        written = store.summary()["events"]
        store.maintain(idle=False)  # a writer with batches waiting leaves the WAL alone
        assert wal.stat().st_size >= IDLE_CHECKPOINT_BYTES
        store.maintain(idle=True)
        assert not wal.exists() or wal.stat().st_size < IDLE_CHECKPOINT_BYTES
        assert store.summary()["events"] == written
        assert store.fetch("SELECT current_setting('checkpoint_threshold') AS t")[0]["t"] == "64.0 MiB"
    finally:
        store.close()
    reopened = DuckDBStore(tmp_path / "cp.duckdb")
    try:
        assert reopened.summary()["events"] == written
    finally:
        reopened.close()


def _row_groups(store: DuckDBStore) -> int:
    return int(store.fetch("SELECT count(DISTINCT row_group_id) AS n FROM pragma_storage_info('events')")[0]["n"])


def test_the_stores_checkpoints_never_vacuum_and_retention_still_frees_whole_row_groups(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB's vacuum, merging the row groups of earlier checkpoints, held 50-160 MB more RSS during a checkpoint
    (benchmarks/ingest), and once many small row groups exist it merges them all at once: no checkpoint of the
    store runs it, not after a deletion, not at close; a row group whose rows are all deleted is still dropped."""
    monkeypatch.setattr(duckdb_store, "IDLE_CHECKPOINT_BYTES", 1)  # every idle maintain() checkpoints
    path = tmp_path / "vacuum.duckdb"
    store = DuckDBStore(path)
    try:
        default = store.fetch("SELECT current_setting('max_vacuum_tasks') AS v")[0]["v"]
        old = [make_row(time=1_000_000 + i) for i in range(2_000)]
        store.write(old)
        store.maintain(idle=True)
        for _ in range(3):
            store.write([make_row() for _ in range(2_000)])
            store.maintain(idle=True)
        assert _row_groups(store) == 4  # one per checkpoint, not merged
        assert store.fetch("SELECT current_setting('max_vacuum_tasks') AS v")[0]["v"] == default
        assert store.delete_older_than(2_000_000) == 2_000  # retention: the first row group, whole
        store.write([make_row()])
        store.maintain(idle=True)
        assert _row_groups(store) == 4  # the old one dropped, a new one written
        store.write([make_row()])  # left for close() to checkpoint
    finally:
        store.close()
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('events')"
                            ).fetchall() == [(5,)]  # close() did not merge them either
        assert conn.execute("SELECT count(*) FROM events").fetchall() == [(6_002,)]


def test_a_busy_writer_checkpoints_before_duckdb_would_inside_a_commit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB's own checkpoint (at `BUSY_CHECKPOINT_BYTES` of WAL, inside a commit) would vacuum: the store
    checkpoints first, from half of it, when the writer never gets idle."""
    monkeypatch.setattr(duckdb_store, "BUSY_CHECKPOINT_BYTES", 2 * IDLE_CHECKPOINT_BYTES)
    store = DuckDBStore(tmp_path / "busy.duckdb")
    wal = Path(store.path + ".wal")
    try:
        for _ in range(100):
            store.write([make_row() for _ in range(2_000)])
            if wal.stat().st_size >= IDLE_CHECKPOINT_BYTES:
                break
        store.maintain(idle=False)
        assert not wal.exists() or wal.stat().st_size < IDLE_CHECKPOINT_BYTES
    finally:
        store.close()


def test_close_interrupts_a_read_running_on_another_thread_and_releases_the_file(tmp_path: Path) -> None:
    """A collector stopped while a long read runs (the dashboard rollup's first build takes seconds at 10 M
    events) used to fail in close() with DuckDB's 'connection is busy'; the read is interrupted instead."""
    for _attempt in range(5):  # until close() met the read while it was running, not before it started
        path = tmp_path / f"busy-{_attempt}.duckdb"
        store = DuckDBStore(str(path))
        errors: list[Exception] = []
        started = threading.Event()

        def read(store: DuckDBStore = store, errors: list[Exception] = errors,
                 started: threading.Event = started) -> None:
            started.set()
            try:
                store.fetch("SELECT sum(i) AS s FROM range(100000000000) AS t(i)")  # minutes, unless interrupted
            except StoreError as exc:
                errors.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        started.wait()
        store.close()  # must not raise
        reader.join(timeout=30)
        assert not reader.is_alive()
        assert len(errors) == 1
        DuckDBStore(str(path)).close()  # the file was released
        if "Interrupt" in str(errors[0]):
            return
    pytest.fail("close() never met the read while it ran")
