"""`BoundedQueue`: what `track()` hands to the worker, bounded, dropping (and counting) the oldest when full.

The only code on the host's hot path besides `Telemetry.track()` itself, so it takes no lock: `deque.append`
(bounded by `maxlen`, which drops the oldest item itself) and `next()` of an `itertools.count` are each one
atomic step under the GIL. A lock there cost more than all the rest of `track()` (0.58 against 0.36 µs a call,
the floor's dict-plus-deque 0.35 µs). What the queue pushed out is not counted as it happens but derived
(submitted − taken − still queued) whenever it is read. The worker is woken once per batch's worth of
submissions rather than on every call (OpenTelemetry's BatchProcessor does the same).

Builds without a GIL (free-threaded CPython) get `_LockedQueue`: the same queue with a lock around `submit()`.
"""

from __future__ import annotations

import collections
import itertools
import sys
import threading
from typing import Any

from blindai_telemetry._ledger import DropLedger

#: (event name, properties, client facts, time.time()) — filtered and built on the worker, never here.
Item = tuple[object, dict[str, Any], object, float]


class BoundedQueue:
    def __new__(cls, *args: Any, **kwargs: Any) -> BoundedQueue:
        gil = getattr(sys, "_is_gil_enabled", lambda: True)()
        return super().__new__(cls if gil or cls is not BoundedQueue else _LockedQueue)

    def __init__(self, max_size: int, batch_size: int, ledger: DropLedger) -> None:
        self.max_size = max(1, max_size)
        self.batch_size = max(1, batch_size)
        self._ledger = ledger
        self.reset_after_fork()
        ledger.counts_overflows_of(self._overflowed)

    def reset_after_fork(self) -> None:
        """Empty, open, with a new lock (the parent's may have been held by a thread the child does not have);
        the parent delivers what it queued."""
        #: Held by the readers (the worker, flush, stats), never by `submit()`.
        self._lock = threading.Lock()
        self._items: collections.deque[Item] = collections.deque(maxlen=self.max_size)
        # Counts every kept submission, after its append: a reader can see an item before its count, never
        # the other way round, so the overflow it derives is never more than the truth.
        self._submitted = itertools.count(1)  # so that the batch-th submission wakes the worker
        #: Set when a batch is full (and by flush/shutdown): the worker waits on it.
        self.wake = threading.Event()
        self._open = True
        self._drained = False  # the last take at exit happened: what arrives later is lost (guarded by the lock)
        self.taken = 0  # items the worker took (guarded by the lock)

    def submit(self, item: Item) -> bool:
        """Queue `item`; False when it was not kept (the pipeline has stopped). A full queue makes room by
        dropping its oldest item, counted as `queue_full`."""
        if self._open:
            self._items.append(item)
            if not next(self._submitted) % self.batch_size:
                self.wake.set()  # a batch's worth arrived: wake the worker once per batch, not on every call
            return self._open or self._late()
        self._ledger.lost("after_shutdown")  # closed: not kept, and counted
        return False

    def _late(self) -> bool:
        """(slow path) The queue closed while `submit()` appended: the item is kept if the last take at exit is
        still to come; after it, what is left in the queue is counted as lost rather than left there unsent."""
        with self._lock:
            if not self._drained:
                return True
            left = len(self._items)
            if left:
                self.taken += left
                self._items.clear()
                self._ledger.lost("after_shutdown", left)
            return False

    def _submitted_locked(self) -> int:
        """(lock held) How many items were kept so far: read from the counter's repr, `count(N)` with N the next
        value, since `next()` would consume a value and shift the worker's wake-ups."""
        return int(repr(self._submitted)[6:-1]) - 1

    def _counts_locked(self) -> tuple[int, int]:
        submitted = self._submitted_locked()  # before the length: see `_submitted`
        return submitted, max(0, submitted - self.taken - len(self._items))

    def _overflowed(self) -> int:
        with self._lock:
            return self._counts_locked()[1]

    def take(self, limit: int) -> list[Item]:
        """Up to `limit` items, oldest first."""
        with self._lock:
            items = self._items
            count = min(limit, len(items))
            self.taken += count
            return [items.popleft() for _ in range(count)]

    def drain(self) -> list[Item]:
        """Everything left, at exit: what a late `submit()` adds after this is counted as lost by it."""
        with self._lock:
            self._drained = True
            self.taken += len(self._items)
            left = list(self._items)
            self._items.clear()
            return left

    def close(self) -> None:
        """Accept nothing more: what is tracked after shutdown is counted as lost, not kept unsent."""
        self._open = False

    def counts(self) -> tuple[int, int]:
        """(accepted: every item kept so far, overflowed: of which pushed out), read together."""
        with self._lock:
            return self._counts_locked()

    def __len__(self) -> int:
        return len(self._items)


class _LockedQueue(BoundedQueue):
    """For builds without a GIL, where `deque` and `itertools.count` are not one step each for every thread."""

    def reset_after_fork(self) -> None:
        super().reset_after_fork()
        self._lock = threading.RLock()  # type: ignore[assignment]  # `submit()` holds it into `_late()`

    def submit(self, item: Item) -> bool:
        with self._lock:
            return super().submit(item)
