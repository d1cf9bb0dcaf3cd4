"""The DuckDB store's deduplication window in memory: 8-byte prefixes, confirmed against the day's table."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import duckdb
import pytest

from blindai_telemetry.stores import _duckdb_keys
from blindai_telemetry.stores._duckdb_keys import KeyWindow, key, table

DAY = 20_000


def _store(conn: duckdb.DuckDBPyConnection, window: KeyWindow, day: int, keys: list[bytes]) -> None:
    """What `DuckDBStore.write` does with new keys: into the day's table, then into memory once committed."""
    conn.executemany(f"INSERT INTO {table(day)} VALUES (?)", [[k] for k in keys])
    window.remember(day, keys)


@pytest.fixture
def conn(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(tmp_path / "keys.duckdb"))
    yield connection
    connection.close()


def test_a_key_sharing_its_first_8_bytes_with_a_stored_one_is_not_a_duplicate(
        conn: duckdb.DuckDBPyConnection) -> None:
    """The prefix only picks candidates: the day's table decides, so a collision never drops an event."""
    stored, twin = b"prefix!!" + b"A" * 8, b"prefix!!" + b"B" * 8
    window = KeyWindow()
    window.open(conn, DAY)
    _store(conn, window, DAY, [stored])
    assert window.seen(conn, [twin]) == set()
    assert window.seen(conn, [twin, stored]) == {stored}


def test_keys_are_found_in_the_merged_array_the_recent_set_and_after_a_reopen(
        conn: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_duckdb_keys, "_MERGE_MIN", 7)  # merge every few batches
    monkeypatch.setattr(_duckdb_keys, "_LOAD_ROWS", 5)  # read back in slices, each an offset into Arrow's buffers
    keys = [key(f"event-{i}") for i in range(200)]
    window = KeyWindow()
    window.open(conn, DAY)
    for start in range(0, 150, 3):
        _store(conn, window, DAY, keys[start:start + 3])
        assert window.seen(conn, keys[:start + 3] + keys[150:]) == set(keys[:start + 3])
    assert window.size == 150
    window.roll(conn, DAY + 1)  # yesterday's recent keys join its array
    _store(conn, window, DAY + 1, keys[150:160])
    reopened = KeyWindow()
    reopened.open(conn, DAY + 1)
    assert reopened.seen(conn, keys) == set(keys[:160])
    assert reopened.size == 160


def test_forgotten_keys_are_not_seen_and_the_others_are(
        conn: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_duckdb_keys, "_MERGE_MIN", 4)
    keys = [key(f"event-{i}") for i in range(20)]
    window = KeyWindow()
    window.open(conn, DAY)
    _store(conn, window, DAY, keys[:10])  # merged into the array
    _store(conn, window, DAY, keys[10:12])  # still in the recent set
    gone = [keys[0], keys[5], keys[10]]
    conn.executemany(f"DELETE FROM {table(DAY)} WHERE key = ?", [[k] for k in gone])
    window.forget(gone)
    assert window.seen(conn, keys) == set(keys[:12]) - set(gone)
    assert window.size == 9


def test_the_window_holds_a_key_in_a_fraction_of_a_set_of_digests() -> None:
    """~82 bytes a key in a set of the 16-byte digests (39 MB of RSS at 480,000 events): the point of the prefixes."""
    keys = [key(str(i)) for i in range(100_000)]
    conn = duckdb.connect()
    try:
        window = KeyWindow()
        window.open(conn, DAY)
        tracemalloc.start()
        for start in range(0, len(keys), 500):
            window.remember(DAY, keys[start:start + 500])
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        conn.close()
    assert window.size == len(keys)
    assert held / len(keys) < 20, f"{held / len(keys):.1f} bytes a key"
