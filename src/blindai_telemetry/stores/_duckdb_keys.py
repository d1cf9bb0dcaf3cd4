"""The DuckDB store's deduplication window: the keys of the event_ids stored in the last days, on disk and in memory.

Each key (the 16-byte md5 digest of an event_id, as `unhex(md5(event_id))` computes it in SQL) is written to
the table of the UTC day it arrived, `event_keys_<days since 1970>`, in the same transaction as its event, so
a restart after kill -9 knows exactly which events were stored. The tables have no index (an index is what
DuckDB rewrites whole at every checkpoint), and the membership test runs in memory on what is loaded from them
at open: a look-up per event instead of an ART insert. A day's table and keys are dropped once the day is
more than `WINDOW_DAYS` old, so a retry is recognised for at least `WINDOW_DAYS` days after the first copy
arrived (as Amplitude does with `insert_id`), and the memory held is that of the window, not of all time.

In memory a day holds its keys' first 8 bytes in a sorted numpy array (and the latest in a set, merged into
the array by eighths): ~9-17 bytes a key, against ~82 for a Python set of the 16-byte digests (39 MB of the
collector's RSS at 480,000 events). A prefix found is confirmed against the day's table before an event is
taken for a retry: two ids sharing 8 bytes never lose an event, and that look-up (a scan of one day's keys)
runs only for retries.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

#: Days a stored event_id is remembered after its arrival (and up to one more: whole days are dropped).
WINDOW_DAYS = 7
_PREFIX = "event_keys_"
#: The single key table of stores made before the window (`key UUID PRIMARY KEY` holding `md5(event_id)::UUID`).
LEGACY_TABLE = "event_keys"
#: The key of an event_id in SQL, equal to `key()`.
KEY_SQL = "unhex(md5({}))"
KEY_TYPE = pa.binary(16)
_LOAD_ROWS = 65_536
#: Recent prefixes a day holds in a set before they are merged into its sorted array (or an eighth of it).
_MERGE_MIN = 16_384


def key(event_id: str) -> bytes:
    """The 16-byte key of an event_id. Two ids colliding in 128 bits is not a practical concern."""
    return hashlib.md5(event_id.encode("utf-8"), usedforsecurity=False).digest()


def today() -> int:
    """Today's UTC day number (days since 1970-01-01): the day new keys are filed under."""
    return int(time.time() // 86_400)


def table(day: int) -> str:
    return f"{_PREFIX}{day}"


class _Day:
    """One day's keys, as their first 8 bytes: a sorted array, and a set of the latest not yet merged into it.

    ~9-17 bytes a key (the array's 8, the set's ~70 for at most an eighth of them), against ~82 for a set of
    the 16-byte digests. A prefix hit is only a candidate: `KeyWindow.seen` confirms it against the day's table.
    """

    __slots__ = ("held", "recent")

    def __init__(self, held: npt.NDArray[np.uint64] | None = None) -> None:
        self.held: npt.NDArray[np.uint64] = np.empty(0, np.uint64) if held is None else held
        self.recent: set[int] = set()

    def __len__(self) -> int:
        return len(self.held) + len(self.recent)

    def hits(self, prefixes: npt.NDArray[np.uint64], ints: list[int]) -> npt.NDArray[np.bool_]:
        """Which of `prefixes` (`ints`: the same as Python ints) this day holds."""
        found = np.zeros(len(prefixes), np.bool_)
        if len(self.held):
            at = np.minimum(np.searchsorted(self.held, prefixes), len(self.held) - 1)
            found = self.held[at] == prefixes
        if not self.recent.isdisjoint(ints):
            found |= np.fromiter((p in self.recent for p in ints), np.bool_, len(ints))
        return found

    def add(self, ints: list[int]) -> None:
        self.recent.update(ints)
        if len(self.recent) >= max(_MERGE_MIN, len(self.held) >> 3):  # merges cost O(held): amortised
            self.merge()

    def merge(self) -> None:
        """Fold the recent prefixes into the sorted array."""
        if self.recent:
            new = np.sort(np.fromiter(self.recent, np.uint64, len(self.recent)))
            self.held = np.insert(self.held, np.searchsorted(self.held, new), new)
            self.recent = set()

    def discard(self, prefixes: npt.NDArray[np.uint64], ints: list[int]) -> None:
        self.recent.difference_update(ints)
        if len(self.held):
            self.held = self.held[~np.isin(self.held, prefixes)]


class KeyWindow:
    """Which event_ids the store holds from the last `WINDOW_DAYS` days. Used under the store's write lock."""

    def __init__(self) -> None:
        self._days: dict[int, _Day] = {}

    def open(self, conn: duckdb.DuckDBPyConnection, day: int) -> None:
        """Migrate a store made before the window, drop the expired days, and load the live ones into memory."""
        self._days = {}
        if _exists(conn, LEGACY_TABLE):
            # Its keys count as arriving today: they are all remembered for the whole window.
            conn.execute("BEGIN TRANSACTION")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table(day)} (key BLOB NOT NULL)")
            conn.execute(f"INSERT INTO {table(day)} SELECT unhex(replace(key::VARCHAR, '-', '')) FROM {LEGACY_TABLE}")
            conn.execute(f"DROP TABLE {LEGACY_TABLE}")
            conn.execute("COMMIT")
        for stored in _days_stored(conn):
            if stored < day - WINDOW_DAYS:
                conn.execute(f"DROP TABLE {table(stored)}")
            else:
                self._days[stored] = _load(conn, table(stored))
        self.roll(conn, day)

    def roll(self, conn: duckdb.DuckDBPyConnection, day: int) -> None:
        """Make `day`'s table if it is new, and drop the days that left the window (once a day)."""
        if day in self._days:
            return
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table(day)} (key BLOB NOT NULL)")
        for held in self._days.values():
            held.merge()  # a past day takes no more keys: nothing of it stays in a set
        self._days[day] = _Day()
        for old in [d for d in self._days if d < day - WINDOW_DAYS]:
            conn.execute(f"DROP TABLE IF EXISTS {table(old)}")
            del self._days[old]

    def seen(self, conn: duckdb.DuckDBPyConnection, keys: Sequence[bytes]) -> set[bytes]:
        """The keys among `keys` stored before (within the window).

        A key whose 8-byte prefix a day holds is looked up in that day's table (a scan: it has no index), so
        two ids sharing a prefix never make a new event a duplicate; the look-up only runs for retries.
        """
        if not keys:
            return set()
        prefixes = _prefixes(keys)
        ints = prefixes.tolist()
        found: set[bytes] = set()
        for day, held in self._days.items():
            hits = held.hits(prefixes, ints)
            if hits.any():
                candidates = [k for k, hit in zip(keys, hits.tolist(), strict=True) if hit]
                found.update(_stored(conn, table(day), candidates))
        return found

    def remember(self, day: int, keys: Sequence[bytes]) -> None:
        """Note keys whose rows were committed under `day` (only after the commit: a rollback keeps none)."""
        if keys:
            self._days[day].add(_prefixes(keys).tolist())

    def forget(self, keys: Sequence[bytes]) -> None:
        """Drop keys whose events were deleted (after the deletion committed)."""
        if not keys:
            return
        prefixes = np.unique(_prefixes(keys))
        ints = prefixes.tolist()
        for held in self._days.values():
            held.discard(prefixes, ints)

    def delete(self, conn: duckdb.DuckDBPyConnection, events_where: str, params: list[object]) -> list[bytes]:
        """Delete from every day's table the keys of the events matching `events_where`; return them."""
        gone: list[bytes] = []
        for day in sorted(self._days):
            deleted = conn.sql(
                f"DELETE FROM {table(day)} WHERE key IN"
                f" (SELECT {KEY_SQL.format('event_id')} FROM events WHERE {events_where}) RETURNING key",
                params=params,
            ).to_arrow_table()
            gone.extend(deleted.column(0).to_pylist())
        return gone

    @property
    def size(self) -> int:
        """How many keys the window holds."""
        return sum(len(day) for day in self._days.values())


def _prefixes(keys: Sequence[bytes]) -> npt.NDArray[np.uint64]:
    """The first 8 bytes of each 16-byte key, as unsigned integers (big-endian: their order is the bytes')."""
    return np.frombuffer(b"".join(keys), dtype=">u8")[::2].astype(np.uint64)


def _stored(conn: duckdb.DuckDBPyConnection, name: str, candidates: list[bytes]) -> list[bytes]:
    """Which of `candidates` the day table `name` holds."""
    rows = conn.execute(f"SELECT DISTINCT key FROM {name} WHERE key IN (SELECT unnest(?::BLOB[]))",
                        [candidates]).fetchall()
    return [bytes(key) for (key,) in rows]


def _load(conn: duckdb.DuckDBPyConnection, name: str) -> _Day:
    """The keys of one day's table, read in slices of Arrow (no Python object per key)."""
    chunks = [np.empty(0, np.uint64)]
    for chunk in conn.sql(f"SELECT key FROM {name}").to_arrow_reader(_LOAD_ROWS):
        column = chunk.column(0).cast(KEY_TYPE)
        data = column.buffers()[1]
        assert data is not None
        chunks.append(np.frombuffer(data, dtype=">u8", count=2 * len(column), offset=16 * column.offset)[::2]
                      .astype(np.uint64))
    return _Day(np.sort(np.concatenate(chunks)))


def _exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main'"
        " AND table_name = ?", [name]).fetchall()[0][0])


def _days_stored(conn: duckdb.DuckDBPyConnection) -> list[int]:
    names = conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main'"
        " AND starts_with(table_name, ?)", [_PREFIX]).fetchall()
    return sorted(int(name[len(_PREFIX):]) for (name,) in names if name[len(_PREFIX):].isdigit())
