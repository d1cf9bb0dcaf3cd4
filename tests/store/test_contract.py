"""The storage contract, run over every store: what the collector and the dashboard may rely on."""

from __future__ import annotations

from typing import Any

import pytest

from blindai_telemetry.stores import COLUMN_NAMES, MAX_TIME_MS, MIN_TIME_MS, Deletion, Store, StoreError

from .conftest import StoreFactory, make_row

# A bad row refuses the whole batch with ValueError (the caller's bug, not a storage failure: no 503/retry).
BAD_ROWS: list[tuple[str, dict[str, Any]]] = [
    ("text where an int is required", {"cpu_count": "two"}),
    ("bool where an int is required", {"input_bytes": True}),
    ("missing required column", {"install_id": None}),
    ("unknown column", {"ip_address": "127.0.0.1"}),
    ("time before 1970", {"time": MIN_TIME_MS - 1}),
    ("time after 9999", {"time": MAX_TIME_MS + 1}),
    ("non-finite number", {"duration_ms": float("nan")}),
    ("int too large for INTEGER", {"cpu_count": 2**31}),
    ("properties not an object", {"properties": ["a"]}),
]


def test_every_column_round_trips(store: Store) -> None:
    """Each column, of every type, reads back as written; `time` comes back as Unix ms."""
    row = make_row()
    assert store.write([row]).inserted == 1
    (back,) = store.rows()
    assert list(back) == list(COLUMN_NAMES)
    assert back == row


def test_the_first_and_last_representable_times_round_trip(store: Store) -> None:
    """The stores keep the whole range the collector accepts, exactly (ms precision at both ends)."""
    rows = [make_row(time=MIN_TIME_MS, received_at=MIN_TIME_MS), make_row(time=MAX_TIME_MS, received_at=MAX_TIME_MS)]
    store.write(rows)
    assert [(r["time"], r["received_at"]) for r in store.rows()] == [(MIN_TIME_MS, MIN_TIME_MS),
                                                                     (MAX_TIME_MS, MAX_TIME_MS)]


def test_missing_columns_read_back_as_none(store: Store) -> None:
    """Only the required columns are needed; the rest are NULL."""
    row = {"event_id": "e1", "event": "server_started", "time": 1, "received_at": 2, "install_id": "i"}
    store.write([row])
    (back,) = store.rows()
    assert back == {name: row.get(name) for name in COLUMN_NAMES}


def test_rows_are_oldest_first_and_filter_by_install(store: Store) -> None:
    """`rows()` orders by time and can select one install; `limit` caps it."""
    late, early, other = make_row(time=3_000), make_row(time=1_000), make_row(time=2_000, install_id="other")
    store.write([late, early, other])
    assert [r["event_id"] for r in store.rows()] == [early["event_id"], other["event_id"], late["event_id"]]
    assert [r["event_id"] for r in store.rows(install_id="other")] == [other["event_id"]]
    assert len(store.rows(limit=2)) == 2


def test_duplicates_within_a_batch_are_counted_and_stored_once(store: Store) -> None:
    row = make_row()
    result = store.write([row, dict(row), make_row()])
    assert (result.inserted, result.duplicates) == (2, 1)
    assert store.summary()["events"] == 2


def test_duplicates_across_writes_are_ignored(store: Store) -> None:
    """A retried batch stores nothing new, even if its copy differs in a non-key column."""
    first, second = make_row(), make_row()
    store.write([first, second])
    result = store.write([first, make_row(), dict(second, received_at=second["received_at"] + 5)])
    assert (result.inserted, result.duplicates) == (1, 2)
    assert store.summary()["events"] == 3


def test_duplicates_across_reopen_are_ignored(store_factory: tuple[str, StoreFactory]) -> None:
    """Dedup holds across a restart for stores that persist (the collector restarts; SDKs retry)."""
    kind, make = store_factory
    if kind == "memory":
        pytest.skip("InMemoryStore keeps nothing across processes")
    row = make_row()
    store = make()
    store.write([row])
    store.close()
    reopened = make()
    assert reopened.write([row]).duplicates == 1
    assert reopened.rows() == [row]


def test_empty_batch_writes_nothing(store: Store) -> None:
    assert store.write([]).inserted == 0
    assert store.summary()["events"] == 0


@pytest.mark.parametrize(("why", "bad"), BAD_ROWS, ids=[why for why, _ in BAD_ROWS])
def test_a_batch_with_one_bad_row_writes_nothing(store: Store, why: str, bad: dict[str, Any]) -> None:
    """Atomic: one invalid row refuses the whole batch with ValueError; nothing of it is stored."""
    good = make_row()
    with pytest.raises(ValueError):
        store.write([good, make_row(**bad), make_row()])
    assert store.rows() == []
    assert store.write([good]).inserted == 1  # and the good rows are not remembered as seen
    assert store.rows() == [good]


def test_a_row_that_is_not_a_mapping_is_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        store.write([make_row(), ("not", "a", "row")])  # type: ignore[list-item]
    assert store.rows() == []


def test_delete_installs_removes_their_events_and_clears_client_ids(store: Store) -> None:
    """Deleting an install removes its events and the client fields naming it on other installs' events."""
    gone, kept = "install-gone", "install-kept"
    store.write([
        make_row(install_id=gone), make_row(install_id=gone, client_install_id=None),
        make_row(install_id=kept, client_install_id=gone), make_row(install_id=kept, client_install_id="other"),
    ])
    assert store.delete_installs([gone, "never-seen"]) == 2
    rows = store.rows()
    assert [r["install_id"] for r in rows] == [kept, kept]
    assert [r["client_install_id"] for r in rows] == [None, "other"]
    assert store.rows(install_id=gone) == []
    assert store.delete_installs([]) == 0


def test_a_deleted_event_can_be_stored_again(store: Store) -> None:
    """Deletion forgets the event_ids too: a store keeps nothing about a deleted install, and the same
    batch sent again is stored again (not taken for a retry of the deleted one)."""
    row = make_row(install_id="gone")
    store.write([row])
    store.delete_installs(["gone"])
    assert store.write([row]).inserted == 1
    assert store.rows(install_id="gone") == [row]


def test_delete_older_than_keeps_events_at_or_after_the_cutoff(store: Store) -> None:
    old, edge, new = make_row(time=1_000), make_row(time=2_000), make_row(time=3_000)
    store.write([old, edge, new])
    assert store.delete_older_than(2_000) == 1
    assert [r["event_id"] for r in store.rows()] == [edge["event_id"], new["event_id"]]
    assert store.write([old, edge]).inserted == 1  # the expired event's id is forgotten with it
    assert store.write([old]).duplicates == 1
    assert len(store.rows()) == 3


def test_deletions_and_new_writes_keep_dedup_consistent_across_reopen(
    store_factory: tuple[str, StoreFactory],
) -> None:
    """After deletions, a restart still knows exactly the stored ids: kept ones are duplicates, deleted ones new."""
    kind, make = store_factory
    if kind == "memory":
        pytest.skip("InMemoryStore keeps nothing across processes")
    kept, gone = make_row(install_id="kept"), make_row(install_id="gone")
    store = make()
    store.write([kept, gone])
    store.delete_installs(["gone"])
    store.close()
    result = make().write([kept, gone, make_row()])
    assert (result.inserted, result.duplicates) == (2, 1)


def test_summary_counts_events_installs_servers_clients_and_time_range(store: Store) -> None:
    assert store.summary() == {"events": 0, "installs": 0, "servers": 0, "clients": 0}
    store.write([
        make_row(install_id="s1", time=5_000, client_install_id="c1"),
        make_row(install_id="s1", time=7_000, client_install_id="c2", is_ci=True),
        make_row(install_id="c1", mode=None, app="blindai-client", client_install_id=None, time=6_000),
    ])
    assert store.summary() == {"events": 3, "installs": 2, "servers": 1, "clients": 2,
                               "first_time_ms": 5_000, "last_time_ms": 7_000}


def test_deletion_records_are_kept_and_replaced(store_factory: tuple[str, StoreFactory]) -> None:
    """A deletion request is recorded, updated when done, and (for persistent stores) survives a restart."""
    kind, make = store_factory
    store = make()
    assert store.get_deletion("d1") is None
    pending = Deletion(id="d1", status="pending", requested_at_ms=1_000, install_count=2)
    store.record_deletion(pending)
    assert store.get_deletion("d1") == pending
    done = Deletion(id="d1", status="done", requested_at_ms=1_000, install_count=2, done_at_ms=2_000,
                    events_deleted=40)
    store.record_deletion(done)
    assert store.get_deletion("d1") == done
    if kind != "memory":
        store.close()
        assert make().get_deletion("d1") == done


def test_fetch_runs_sql_in_the_store_dialect(store: Store) -> None:
    """The dashboard's entry point: plain SQL with positional parameters over the public `events` table."""
    if store.dialect is None:
        with pytest.raises(NotImplementedError):
            store.fetch("SELECT 1")
        return
    store.write([make_row(event="model_run"), make_row(event="model_run"), make_row(event="server_started")])
    placeholder = "?" if store.dialect == "duckdb" else "%s"
    got = store.fetch(f"SELECT event, count(*) AS n FROM events WHERE event = {placeholder} GROUP BY event",
                      ["model_run"])
    assert got == [{"event": "model_run", "n": 2}]


def test_a_closed_store_raises_store_error(store: Store) -> None:
    if store.dialect is None:
        pytest.skip("InMemoryStore has nothing to close")
    store.close()
    with pytest.raises(StoreError):
        store.write([make_row()])
    with pytest.raises(StoreError):
        store.summary()


def test_a_large_group_commit_is_written_whole(store: Store) -> None:
    """The collector groups several requests into one write: 10,000 rows go in at once, and all are
    recognised as duplicates when retried (ClickHouse caps a query's size, so look-ups must not grow with it)."""
    rows = [make_row() for _ in range(10_000)]
    assert store.write(rows).inserted == 10_000
    assert store.write(rows).duplicates == 10_000
    ids = [f"install-{i}" for i in range(5_000)]
    store.write([make_row(install_id=i) for i in ids])
    assert store.delete_installs(ids) == 5_000
    assert store.summary()["events"] == 10_000
