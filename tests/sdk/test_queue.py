"""BoundedQueue: submit() takes no lock, yet every item is either taken, still queued or counted as lost."""

from __future__ import annotations

import threading

import pytest

from blindai_telemetry._ledger import DropLedger
from blindai_telemetry._queue import BoundedQueue, Item, _LockedQueue


def _item(i: int) -> Item:
    return ("model_run", {"input_bytes": i}, None, 0.0)


def test_a_full_queue_keeps_the_newest_and_counts_the_oldest_as_queue_full() -> None:
    ledger = DropLedger()
    queue = BoundedQueue(3, 500, ledger)
    assert all(queue.submit(_item(i)) for i in range(5))
    assert [props["input_bytes"] for _, props, _, _ in queue.take(10)] == [2, 3, 4]
    assert queue.counts() == (5, 2)
    assert ledger.totals() == {"queue_full": 2}


def test_the_worker_is_woken_once_a_batch_has_arrived() -> None:
    queue = BoundedQueue(100, 4, DropLedger())
    for i in range(3):
        queue.submit(_item(i))
        assert not queue.wake.is_set()
    queue.submit(_item(3))
    assert queue.wake.is_set()


def test_a_closed_queue_refuses_and_counts_after_shutdown() -> None:
    ledger = DropLedger()
    queue = BoundedQueue(10, 500, ledger)
    queue.submit(_item(0))
    queue.close()
    assert queue.submit(_item(1)) is False
    assert len(queue) == 1 and ledger.totals() == {"after_shutdown": 1}


def test_an_item_that_raced_the_close_past_the_last_take_is_counted_not_left_behind() -> None:
    """`submit()` checked the queue open, then (on another thread) the queue closed and was drained, then the
    append happened: the submitter finds the queue closed after its append and counts what is left."""
    ledger = DropLedger()
    queue = BoundedQueue(10, 500, ledger)

    class _ClosingDeque(list[Item]):
        def append(self, item: Item) -> None:  # the other thread's close and last take, just before the append
            queue._items = real  # the race is staged from inside the queue
            queue.close()
            assert queue.drain() == []
            real.append(item)

    real = queue._items
    queue._items = _ClosingDeque()  # type: ignore[assignment]
    assert queue.submit(_item(0)) is False
    assert len(queue) == 0 and ledger.totals() == {"after_shutdown": 1}
    assert queue.counts() == (1, 0)


@pytest.mark.parametrize("kind", [BoundedQueue, _LockedQueue], ids=["lock-free", "locked (no GIL)"])
def test_items_submitted_by_many_threads_while_the_worker_takes_are_all_accounted_for(
        kind: type[BoundedQueue]) -> None:
    """No lock in submit(): taken + overflowed + still queued must still be every item submitted. The same for
    the locked queue that builds without a GIL get."""
    ledger = DropLedger()
    queue = kind(50, 7, ledger)
    assert type(queue) is kind
    threads, per_thread = 4, 20_000
    done = threading.Event()
    taken = 0

    def take() -> None:
        nonlocal taken
        while not done.is_set() or len(queue):
            taken += len(queue.take(5))
            ledger.totals()  # the ledger folds the overflow while it changes, as `stats()` does

    def submit() -> None:
        for i in range(per_thread):
            queue.submit(_item(i))

    taker = threading.Thread(target=take)
    taker.start()
    submitters = [threading.Thread(target=submit) for _ in range(threads)]
    for thread in submitters:
        thread.start()
    for thread in submitters:
        thread.join()
    done.set()
    taker.join()
    accepted, overflowed = queue.counts()
    assert accepted == threads * per_thread
    assert taken + overflowed == accepted and len(queue) == 0
    assert ledger.totals().get("queue_full", 0) == overflowed
