"""`DropLedger`: every event the SDK loses goes through it, once, with its reason.

Two views of the same counts: `totals()` (everything this process lost, for `stats()` and `status`), and the
report each batch carries to the collector (`take_report()`: the wire reasons not yet reported, then zeroed;
`give_back()` when the batch that carried them is itself lost, so that another batch reports them).
Like sentry-python's `record_lost_event`: a loss is a call with a reason, never a counter edited in place.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping

#: The `dropped` keys of docs/wire-format.md (the collector's `DROP_REASONS`).
WIRE_DROP_REASONS = ("queue_full", "unknown_event", "unknown_property", "invalid_value", "spool_full")
#: Reasons that lose a whole event (the others lose a property or a value): what `status` counts as lost.
#: `refused` (the receiver said no for good), `unsent_at_exit` (neither delivered nor kept at exit),
#: `track_error` (track() itself failed), `after_shutdown` (tracked once the pipeline had stopped).
EVENT_LOSSES = ("queue_full", "unknown_event", "spool_full", "refused", "unsent_at_exit", "track_error",
                "after_shutdown")


class DropLedger:
    def __init__(self) -> None:
        self._overflowed: Callable[[], int] = lambda: 0
        self.reset_after_fork()

    def reset_after_fork(self) -> None:
        """A forked child starts from zero (its parent reports its own losses), with a lock of its own."""
        self._lock = threading.Lock()
        self._totals: Counter[str] = Counter()
        self._unreported: Counter[str] = Counter()
        self._queue_full_folded = 0

    def counts_overflows_of(self, overflowed: Callable[[], int]) -> None:
        """`queue_full` losses are read from the queue's own count (`overflowed()`) whenever the ledger is read:
        on the host's thread a full queue costs nothing more than the append. At a million events/s into a full
        queue, a call into the ledger doubled the cost of `track()`. The count may lag the truth for a moment
        (an append seen before its count), never lead it: a reading below the last one is ignored."""
        self._overflowed = overflowed

    def _fold(self) -> None:
        """(lock held) Bring the queue's count into the counters."""
        new = self._overflowed() - self._queue_full_folded
        if new > 0:
            self._queue_full_folded += new
            self._totals["queue_full"] += new
            self._unreported["queue_full"] += new

    def lost(self, reason: str, count: int = 1) -> None:
        """Count `count` losses of `reason` (an event, or for `unknown_property`/`invalid_value` a property)."""
        if count <= 0:
            return
        with self._lock:
            self._totals[reason] += count
            if reason in WIRE_DROP_REASONS:
                self._unreported[reason] += count

    def lost_all(self, counts: Mapping[str, int]) -> None:
        for reason, count in counts.items():
            self.lost(reason, count)

    def take_report(self) -> dict[str, int]:
        """The `dropped` object of the next batch: every wire reason, unreported counts moved into it."""
        with self._lock:
            self._fold()
            report = {reason: self._unreported.pop(reason, 0) for reason in WIRE_DROP_REASONS}
        return report

    def give_back(self, report: Mapping[str, object]) -> None:
        """A batch carrying `report` will never be delivered: its counts go out with a later batch."""
        with self._lock:
            for reason, count in report.items():
                if reason in WIRE_DROP_REASONS and isinstance(count, int) and count > 0:
                    self._unreported[reason] += count

    def has_unreported(self) -> bool:
        with self._lock:
            self._fold()
            return any(self._unreported.values())

    def totals(self) -> dict[str, int]:
        with self._lock:
            self._fold()
            return {reason: count for reason, count in self._totals.items() if count}

    def events_lost(self) -> int:
        with self._lock:
            self._fold()
            return sum(self._totals[reason] for reason in EVENT_LOSSES)
