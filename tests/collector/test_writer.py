"""The writer thread: group commit, durable acknowledgement, bounded buffer, store failures, drain at stop."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from collector_helpers import batch, event, running

from blindai_telemetry.collector.metrics import Metrics
from blindai_telemetry.collector.validate import check_rows
from blindai_telemetry.collector.writer import MIN_GROUP_EVENTS, BatchResult, BufferFull, RowsRefused, Writer
from blindai_telemetry.stores import MAX_TIME_MS, InMemoryStore, Row, StoreError, WriteResult
from blindai_telemetry.stores._rows import CheckedRows, normalise
from blindai_telemetry.stores.base import COLUMN_NAMES

WAIT = 20.0


class GatedStore(InMemoryStore):
    """Records each write; while `gate` is clear, a write blocks after announcing itself on `entered`."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[list[str]] = []
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.fail = False

    def write(self, rows: Sequence[Row]) -> WriteResult:
        self.entered.set()
        assert self.gate.wait(WAIT)
        self.writes.append([r["event_id"] for r in rows])
        if self.fail:
            raise StoreError("disk full")
        return super().write(rows)


def _rows(n: int) -> list[dict[str, Any]]:
    rows = []
    for _ in range(n):
        e = event()
        e.pop("properties")
        rows.append({**e, "received_at": e["time"], "source": "native"})
    return rows


@pytest.fixture
def gated() -> Any:
    store = GatedStore()
    writer = Writer(store, Metrics(), max_pending_events=10)
    writer.start()
    yield store, writer
    store.gate.set()
    writer.stop(WAIT)


def test_batches_waiting_behind_a_write_are_committed_together_in_one_write(gated: Any) -> None:
    store, writer = gated
    first = writer.submit_rows(_rows(1))
    assert store.entered.wait(WAIT)
    waiting = [writer.submit_rows(_rows(2)) for _ in range(3)]
    assert not any(f.done() for f in (first, *waiting))  # nothing is acknowledged before its commit
    store.gate.set()
    results = [f.result(WAIT) for f in (first, *waiting)]
    assert results == [BatchResult(1, 0)] + [BatchResult(2, 0)] * 3
    assert [len(w) for w in store.writes] == [1, 6]


def test_a_full_buffer_refuses_new_batches(gated: Any) -> None:
    store, writer = gated
    writer.submit_rows(_rows(1))
    assert store.entered.wait(WAIT)
    writer.submit_rows(_rows(9))  # 10 pending: the limit
    with pytest.raises(BufferFull):
        writer.submit_rows(_rows(1))
    store.gate.set()


def test_a_store_failure_fails_every_batch_of_the_group(gated: Any) -> None:
    store, writer = gated
    store.fail = True
    futures = [writer.submit_rows(_rows(2)) for _ in range(2)]
    store.gate.set()
    for f in futures:
        with pytest.raises(StoreError):
            f.result(WAIT)
    assert store.summary()["events"] == 0


def test_tasks_run_in_order_with_the_writes_around_them(gated: Any) -> None:
    store, writer = gated
    rows = _rows(3)
    store.gate.set()
    writer.submit_rows(rows)
    deleted = writer.submit_task(lambda s: s.delete_installs([rows[0]["install_id"]]))
    assert deleted.result(WAIT) == 3


def test_stop_commits_everything_already_submitted(gated: Any) -> None:
    store, writer = gated
    futures = [writer.submit_rows(_rows(2)) for _ in range(3)]
    stopper = threading.Thread(target=writer.stop, args=(WAIT,))
    stopper.start()
    with pytest.raises(BufferFull):
        writer.submit_rows(_rows(1))  # stopping: no new work
    store.gate.set()
    stopper.join(WAIT)
    assert all(f.result(0).inserted == 2 for f in futures)
    assert store.summary()["events"] == 6


def test_duplicates_inside_a_group_are_attributed_to_the_batch_that_repeats_them(gated: Any) -> None:
    store, writer = gated
    old = _rows(2)
    store.gate.set()
    writer.submit_rows(old).result(WAIT)
    store.gate.clear()
    store.entered.clear()
    blocker = writer.submit_rows(_rows(1))
    assert store.entered.wait(WAIT)
    fresh = _rows(2)
    a = writer.submit_rows(fresh)
    b = writer.submit_rows([fresh[0], *_rows(1)])  # repeats one of `a`'s events
    c = writer.submit_rows([old[0], *_rows(1)])  # repeats an event stored before the group
    store.gate.set()
    assert blocker.result(WAIT) == BatchResult(1, 0)
    assert b.result(WAIT) == BatchResult(1, 1)
    # Duplicates of events stored before the group are only known in total (the store counts them per write):
    # the totals are exact, the attribution in order (documented in writer._attribute).
    results = [a.result(WAIT), c.result(WAIT)]
    assert sum(r.duplicates for r in results) == 1 and sum(r.inserted for r in results) == 3
    assert store.summary()["events"] == 2 + 1 + 2 + 1 + 1


def test_a_store_failure_answers_503_with_retry_after_and_stores_nothing() -> None:
    store = GatedStore()
    store.fail = True
    store.gate.set()
    with running(store) as c, c.client() as http:
        r = http.post("/v1/batch", json=batch(event(), event()))
        assert r.status_code == 503 and r.headers["Retry-After"] == "1" and "store" in r.json()["error"]
        store.fail = False
        assert http.post("/v1/batch", json=batch(event())).status_code == 200
    assert store.summary()["events"] == 1


def test_a_full_write_buffer_answers_503_with_retry_after() -> None:
    store = GatedStore()
    with running(store, max_pending_events=3) as c, c.client() as http, \
            concurrent.futures.ThreadPoolExecutor(1) as pool:
        held = pool.submit(http.post, "/v1/batch", json=batch(event(), event(), event()))
        assert store.entered.wait(WAIT)
        with httpx.Client(base_url=c.url, timeout=WAIT) as other:
            r = other.post("/v1/batch", json=batch(event()))
        assert r.status_code == 503 and r.headers["Retry-After"] == "1", r.text
        store.gate.set()
        assert held.result(WAIT).status_code == 200
    assert store.summary()["events"] == 3


class PickyStore(GatedStore):
    """Refuses (ValueError, as the real stores do for an unfit row) any write holding a poisoned event."""

    def write(self, rows: Sequence[Row]) -> WriteResult:
        if any(r["event_id"].startswith("poison") for r in rows):
            self.attempts += 1
            raise ValueError("column 'event_id' is poisoned")
        return super().write(rows)

    attempts = 0


def test_a_batch_the_store_refuses_fails_alone_with_400_not_the_batches_grouped_with_it() -> None:
    store = PickyStore()
    writer = Writer(store, Metrics())
    writer.start()
    try:
        blocker = writer.submit_rows(_rows(1))
        assert store.entered.wait(WAIT)
        good, bad = _rows(2), _rows(1)
        bad[0]["event_id"] = "poison-1"
        futures = [writer.submit_rows(good), writer.submit_rows(bad), writer.submit_rows(_rows(3))]
        store.gate.set()
        assert blocker.result(WAIT) == BatchResult(1, 0)
        assert futures[0].result(WAIT) == BatchResult(2, 0)
        with pytest.raises(RowsRefused, match="poisoned"):
            futures[1].result(WAIT)
        assert futures[2].result(WAIT) == BatchResult(3, 0)
    finally:
        writer.stop(WAIT)
    # The group of three was tried once, then each batch alone.
    assert store.attempts == 2 and [len(w) for w in store.writes] == [1, 2, 3]
    assert store.summary()["events"] == 6
    with running(store) as c, c.client() as http:
        r = http.post("/v1/batch", json=batch(event(event_id="poison-2")))
    assert r.status_code == 400 and "refused" in r.json()["error"]


def test_the_validators_rows_are_already_what_the_stores_check_them_into() -> None:
    """Why the stores may trust `CheckedRows`: re-checking a validated row (`_rows.normalise`) changes nothing."""
    events = [
        event(), event(os_release="6.1.0", python_version="3.11.7", uptime_s=12, cpu_count=2**31 - 1, memory_gb=7.5),
        event("model_uploaded", properties={"model_size_bytes": 2**63 - 1}, time=MAX_TIME_MS),
        event(properties={"model_name": "m", "duration_ms": 0, "input_bytes": 0, "ok": False,
                          "client_install_id": "c1", "client_user_agent": "é" * 200}),
        event(cpu_count="two", mode="turbo", unknown_field=1),  # lenient mode: dropped, the rest kept
    ]
    for strict in (True, False):
        checked = check_rows(events[:-1] if strict else events, source="native", received_at_ms=0, strict=strict)
        assert isinstance(checked.rows, CheckedRows) and len(checked.rows) == len(events) - strict
        for row in checked.rows:
            assert list(row) == list(COLUMN_NAMES)
            assert normalise(row) == row


class RecordingStore(InMemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.kinds: list[type] = []

    def write(self, rows: Sequence[Row]) -> WriteResult:
        self.kinds.append(type(rows))
        return super().write(rows)


def test_a_group_is_trusted_only_when_every_batch_of_it_came_from_the_validator() -> None:
    store = RecordingStore()
    writer = Writer(store, Metrics())
    writer.start()
    try:
        trusted = CheckedRows(normalise(r) for r in _rows(2))
        assert writer.submit_rows(trusted).result(WAIT) == BatchResult(2, 0)
        assert writer.submit_rows(_rows(2)).result(WAIT) == BatchResult(2, 0)
    finally:
        writer.stop(WAIT)
    assert store.kinds == [CheckedRows, list]  # the plain batch went through the store's full checks


class UpkeepStore(GatedStore):
    """Records whether the writer had batches waiting each time it offered the store its upkeep."""

    def __init__(self) -> None:
        super().__init__()
        self.idle: list[bool] = []

    def maintain(self, idle: bool) -> None:
        self.idle.append(idle)
        if len(self.idle) == 1:
            raise OSError("upkeep failed")  # logged; the writer carries on


def test_the_writer_offers_upkeep_after_each_group_saying_whether_batches_wait() -> None:
    store = UpkeepStore()
    writer = Writer(store, Metrics())
    writer.start()
    try:
        first = writer.submit_rows(_rows(1))
        assert store.entered.wait(WAIT)
        second = writer.submit_rows(_rows(1))  # waits behind the first write
        store.gate.set()
        assert first.result(WAIT) == second.result(WAIT) == BatchResult(1, 0)
        assert writer.submit_rows(_rows(1)).result(WAIT) == BatchResult(1, 0)  # upkeep failing stops nothing
    finally:
        assert writer.stop(WAIT)
    assert store.idle == [False, True, True]


@pytest.fixture
def lingering(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A writer whose wait for requests on their way is longer than any test: only their arrival ends it."""
    monkeypatch.setattr("blindai_telemetry.collector.writer.LINGER", 4 * WAIT)
    store = GatedStore()
    store.gate.set()
    writer = Writer(store, Metrics())
    writer.start()
    yield store, writer
    writer.stop(WAIT)


def test_a_batch_waits_for_a_request_on_its_way_and_both_are_committed_together(lingering: Any) -> None:
    store, writer = lingering
    with writer.arriving():  # a second request, its body still being read
        with writer.arriving():
            first = writer.submit_rows(_rows(2))
        assert not first.done()  # held back for the request on its way (LINGER outlasts this test)
        second = writer.submit_rows(_rows(3))
    assert [first.result(WAIT), second.result(WAIT)] == [BatchResult(2, 0), BatchResult(3, 0)]
    assert [len(w) for w in store.writes] == [5]


def test_a_lone_batch_is_committed_without_waiting(lingering: Any) -> None:
    store, writer = lingering
    assert writer.submit_rows(_rows(2)).result(WAIT) == BatchResult(2, 0)  # LINGER is 4 x WAIT: no wait
    assert [len(w) for w in store.writes] == [2]


def test_a_request_refused_on_its_way_releases_the_waiting_batch(lingering: Any) -> None:
    store, writer = lingering
    with writer.arriving():
        with writer.arriving():
            first = writer.submit_rows(_rows(2))
        assert not first.done()
    assert first.result(WAIT) == BatchResult(2, 0)  # the other request left without rows (a 4xx, say)
    assert [len(w) for w in store.writes] == [2]


class GroupedStore(GatedStore):
    """A store asking for groups of `MIN_GROUP_EVENTS` (as ClickHouse's does), waiting longer than any test."""

    group_wait = 4 * WAIT


def test_a_grouped_store_gets_its_group_size_though_no_request_is_on_its_way() -> None:
    """ClickHouse's guidance is at least 1,000 rows an insert: the batches wait for it, arriving or not."""
    store = GroupedStore()
    store.gate.set()
    writer = Writer(store, Metrics())
    writer.start()
    try:
        first = writer.submit_rows(_rows(MIN_GROUP_EVENTS - 1))
        assert not store.entered.wait(0.2)  # held back, though nothing announced itself on its way
        second = writer.submit_rows(_rows(1))
        assert [first.result(WAIT), second.result(WAIT)] == [BatchResult(MIN_GROUP_EVENTS - 1, 0), BatchResult(1, 0)]
    finally:
        assert writer.stop(WAIT)
    assert [len(w) for w in store.writes] == [MIN_GROUP_EVENTS]


def test_a_grouped_stores_wait_ends_at_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GroupedStore, "group_wait", 0.05)
    store = GroupedStore()
    store.gate.set()
    writer = Writer(store, Metrics())
    writer.start()
    try:
        assert writer.submit_rows(_rows(2)).result(WAIT) == BatchResult(2, 0)  # a lone batch, 50 ms late
    finally:
        assert writer.stop(WAIT)
    assert [len(w) for w in store.writes] == [2]
