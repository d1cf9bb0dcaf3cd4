"""`BoundedQueue`: what `track()` hands to the worker, bounded, dropping (and counting) the oldest when full.

The only code on the host's hot path besides `Telemetry.track()` itself: one lock, one append, and a wake-up of
the worker once per full batch rather than on every call (OpenTelemetry's BatchProcessor does the same).
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from blindai_telemetry._ledger import DropLedger

#: (event name, properties, client facts, time.time()) — filtered and built on the worker, never here.
Item = tuple[object, dict[str, Any], object, float]


class BoundedQueue:
    def __init__(self, max_size: int, batch_size: int, ledger: DropLedger) -> None:
        self.max_size = max(1, max_size)
        self.batch_size = max(1, batch_size)
        self._ledger = ledger
        self.reset_after_fork()
        ledger.counts_overflows_of(lambda: self.overflowed)

    def reset_after_fork(self) -> None:
        """Empty, open, with a new lock (the parent's may have been held by a thread the child does not have);
        the parent delivers what it queued."""
        self._lock = threading.Lock()
        self._items: collections.deque[Item] = collections.deque()
        #: Set when a batch is full (and by flush/shutdown): the worker waits on it.
        self.wake = threading.Event()
        self._room = self.max_size  # 0 once closed: every submit then takes the slow path
        self.taken = 0  # items the worker took (guarded by the lock)
        self.overflowed = 0  # items pushed out by newer ones (guarded by the lock)
        self.refused = 0  # items submitted after close (guarded by the lock)

    def submit(self, item: Item) -> bool:
        """Queue `item`; False when it was not kept (the pipeline has stopped). A full queue makes room by
        dropping its oldest item, counted as `queue_full`."""
        with self._lock:
            items = self._items
            # Both common cases in a few operations: it is the host's time.
            if len(items) < self._room:
                items.append(item)
                if len(items) % self.batch_size:
                    return True
            elif self._room:  # full: the oldest makes room (the worker knows; no need to wake it again)
                items.popleft()
                items.append(item)
                self.overflowed += 1  # counted: the ledger reads it (DropLedger.counts_overflows_of)
                return True
            else:  # closed: not kept, and counted
                self.refused += 1
                self._ledger.lost("after_shutdown")
                return False
        self.wake.set()  # a batch is full: wake the worker once per batch, not on every call
        return True

    def take(self, limit: int) -> list[Item]:
        """Up to `limit` items, oldest first."""
        with self._lock:
            items = self._items
            count = min(limit, len(items))
            self.taken += count
            return [items.popleft() for _ in range(count)]

    def close(self) -> None:
        """Accept nothing more: what is tracked after shutdown is counted as lost, not kept unsent."""
        with self._lock:
            self._room = 0

    def counts(self) -> tuple[int, int]:
        """(accepted: every item kept so far, overflowed: of which pushed out), read together."""
        with self._lock:
            return self.taken + self.overflowed + len(self._items), self.overflowed

    def __len__(self) -> int:
        return len(self._items)
