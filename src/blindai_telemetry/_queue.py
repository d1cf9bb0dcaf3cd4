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

    def reset_after_fork(self) -> None:
        """Empty, open, with a new lock (the parent's may have been held by a thread the child does not have);
        the parent delivers what it queued."""
        self._lock = threading.Lock()
        self._items: collections.deque[Item] = collections.deque()
        #: Set when a batch is full (and by flush/shutdown): the worker waits on it.
        self.wake = threading.Event()
        self.accepted = 0  # items submitted while open (guarded by the lock)
        self.overflowed = 0  # of which pushed out by newer ones (guarded by the lock)
        self.closed = False

    def submit(self, item: Item) -> bool:
        """Queue `item`; False when it was not kept (the pipeline has stopped). A full queue makes room by
        dropping its oldest item, counted as `queue_full`."""
        full = False
        with self._lock:
            if self.closed:
                dropped = -1
            else:
                items = self._items
                dropped = 0
                if len(items) >= self.max_size:
                    items.popleft()
                    self.overflowed += 1
                    dropped = 1
                items.append(item)
                self.accepted += 1
                full = not dropped and len(items) % self.batch_size == 0
        if dropped:
            self._ledger.lost("queue_full" if dropped > 0 else "after_shutdown")
            return dropped > 0
        if full:
            self.wake.set()
        return True

    def take(self, limit: int) -> list[Item]:
        """Up to `limit` items, oldest first."""
        with self._lock:
            items = self._items
            count = min(limit, len(items))
            return [items.popleft() for _ in range(count)]

    def close(self) -> None:
        """Accept nothing more: what is tracked after shutdown is counted as lost, not kept unsent."""
        with self._lock:
            self.closed = True

    def counts(self) -> tuple[int, int]:
        """(accepted, overflowed), read together."""
        with self._lock:
            return self.accepted, self.overflowed

    def __len__(self) -> int:
        return len(self._items)
