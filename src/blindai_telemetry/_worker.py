"""The pipeline behind `track()`: a bounded queue, and a daemon worker that filters, batches and delivers.

`track()` only appends `(event, properties, client, time)` to the queue (see `Telemetry.track`); the
worker does everything else: event ids, context, the privacy filter, serialisation, retries with
exponential backoff and full jitter, a pause after repeated failures (circuit open), 413 splits, the
optional spool, the transparency log and the first-run notice. Like OpenTelemetry's BatchProcessor it wakes
every flush interval or when a batch is full, and is re-created in a forked child.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blindai_telemetry import _context
from blindai_telemetry._backoff import Backoff
from blindai_telemetry._batch import SLICE, Batch, encode_native, event_ids, pause
from blindai_telemetry._filter import PrivacyFilter
from blindai_telemetry._records import LocalRecords
from blindai_telemetry._spool import Spool
from blindai_telemetry._transport import Outcome, SendResult, Transport

logger = logging.getLogger("blindai_telemetry")

#: The `dropped` keys of docs/wire-format.md; other reasons (refused batches) stay in the local stats.
WIRE_DROP_REASONS = ("queue_full", "unknown_event", "unknown_property", "invalid_value", "spool_full")
#: Per-request bound outside shutdown: long enough for a slow link, short enough not to stall the queue.
REQUEST_TIMEOUT = 10.0
#: Amplitude and our collector refuse more than 1 MB per request (RESEARCH.md §2).
MAX_BATCH_BYTES = 1_000_000

QueueItem = tuple[object, dict[str, Any], object, float]


@dataclass
class _Once:
    """Log each kind of failure once per process: a dead endpoint must not flood the host's logs."""

    seen: set[str] = field(default_factory=set)

    def __call__(self, kind: str, message: str) -> None:
        if kind not in self.seen:
            self.seen.add(kind)
            logger.info("blindai-telemetry: %s (further ones are not logged)", message)


class Pipeline:
    def __init__(self, transport: Transport, *, context: dict[str, Any], privacy_filter: PrivacyFilter,
                 max_queue_size: int, max_batch_size: int, flush_interval: float, config_dir: Path,
                 spool: Spool | None = None, notice: Callable[[], object] | None = None) -> None:
        self.transport = transport
        self.context = context
        self.filter = privacy_filter
        self.drops: Counter[str] = privacy_filter.drops  # filter drops land here, counted on the worker
        self.max_queue_size = max(1, max_queue_size)
        self.max_batch_size = max(1, max_batch_size)
        self.flush_interval = flush_interval
        self.config_dir = config_dir
        self.spool = spool
        self.notice = notice
        self._log_once = _Once()
        self._reset_runtime()

    # --- state shared with track() (guarded by `lock`) ----------------------------------------------------
    def _reset_runtime(self) -> None:
        """Fresh queue, lock, counters and worker: at start and in a forked child (whose copy of the parent's
        lock may be held by a thread that does not exist in the child)."""
        self.lock = threading.Lock()
        self.queue: collections.deque[QueueItem] = collections.deque()
        self.enqueued = 0  # items accepted by track() (guarded by lock)
        self.queue_full = 0  # items pushed out of a full queue by track() (guarded by lock)
        self._queue_full_seen = 0
        self.handled = 0  # items delivered or definitively dropped by the worker
        self.progress = threading.Condition(threading.Lock())
        self.wake = threading.Event()
        self.outbox: collections.deque[Batch] = collections.deque()
        self._spool_loaded: set[Path] = set()
        self._spooled_items: dict[Path, int] = {}  # files this process wrote: how many queued items each holds
        self._drops_only_batches = 0
        self._replay_pending = bool(self.spool and self.spool.files())
        self.backoff = Backoff()
        self._force = False
        self.cycles = 0  # worker cycles completed, so that flush() knows its forced attempt happened
        self._deadline: float | None = None
        self._stopping = False
        self.stopped = False
        self.sent_events = 0
        self.sent_batches = 0
        self.dropped_total: Counter[str] = Counter()
        self._notice_done = False
        self.records = LocalRecords(self.config_dir)
        self.thread = threading.Thread(target=self._run, name="blindai-telemetry", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def after_fork_in_child(self) -> None:
        self.context["session_id"] = str(uuid.uuid4())
        _context.reset_process_start()
        self._reset_runtime()
        self.drops.clear()
        self.start()

    # --- flush / shutdown (host thread) --------------------------------------------------------------------
    def _done_with(self, target: int) -> bool:
        """Everything queued up to `target` is delivered or dropped, and every drop so far is reported (or rides
        on a batch of events still to be delivered)."""
        return (self.handled + self.queue_full >= target and not self._replay_pending
                and not self._drops_only_batches and not self._pending_drops())

    def flush(self, timeout: float) -> bool:
        with self.lock:
            target = self.enqueued
        if self._done_with(target):
            return True
        deadline = time.monotonic() + max(timeout, 0.0)
        cycles = self.cycles
        self._force = True
        self.wake.set()
        with self.progress:
            while not self._done_with(target):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.thread.is_alive():
                    return False
                if self.cycles > cycles and not self._force and self.backoff.resume_at > deadline:
                    return False  # the forced attempt failed and the next one comes after our deadline
                self.progress.wait(min(remaining, 0.5))
        return True

    def shutdown(self, timeout: float) -> bool:
        """Flush within `timeout`, then stop the worker. Never waits beyond the deadline, whatever the
        endpoint does: the worker derives its socket timeouts from the same deadline, and is a daemon."""
        if self._stopping:
            return self._done_with(self.enqueued)
        deadline = time.monotonic() + max(timeout, 0.0)
        self._deadline = deadline
        delivered = self.flush(timeout) if self.thread.is_alive() else False
        self._stopping = True
        self.wake.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(max(0.0, deadline - time.monotonic()))
        return delivered

    def stats(self) -> dict[str, Any]:
        dropped = Counter(self.dropped_total)
        dropped.update(self.drops)
        dropped["queue_full"] += self.queue_full - self._queue_full_seen
        handled = self.handled + self.queue_full
        if self._stopping and self.spool is None:
            # Shut down with events never delivered (the endpoint never came back): lost, so counted too.
            dropped["unsent_at_exit"] = self.enqueued - handled
            handled = self.enqueued
        return {
            "queued": len(self.queue),
            "enqueued": self.enqueued,
            "handled": handled,
            "sent": self.sent_events,
            "batches": self.sent_batches,
            "pending_batches": len(self.outbox),
            "consecutive_failures": self.backoff.failures,
            "dropped": {k: v for k, v in dropped.items() if v},
        }

    # --- worker ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping:
            delay = self.flush_interval
            pause = self.backoff.remaining()
            if pause > 0:
                delay = min(delay, pause)
            if self._replay_pending and not pause:
                delay = 0.0
            self.wake.wait(delay)
            self.wake.clear()
            if self._stopping:
                break
            try:
                self._cycle()
            except Exception:  # seam: the worker must survive anything, or telemetry silently stops
                logger.debug("blindai-telemetry worker error", exc_info=True)
            finally:
                self.cycles += 1
                with self.progress:
                    self.progress.notify_all()
        if self.spool is not None:
            self._spool_queue()  # what could not be sent before exit survives on disk
        self.stopped = True
        self.transport.close()

    def _cycle(self) -> None:
        # With a spool, everything queued goes to disk first: if the send then hangs until the process exits
        # (a black-holed endpoint), the events are still there for the next start.
        self._spool_queue()
        # flush()/shutdown() skip our own backoff once, but never a wait the receiver asked for.
        if self.backoff.remaining() > 0 and (not self._force or self.backoff.explicit):
            return
        while not self._stopping:
            batch = self._next_batch()
            if batch is None:
                self._replay_pending = False
                return
            if not self._deliver(batch):
                self._force = False  # one forced attempt per flush() call, then the normal backoff
                return
        self._force = False

    def _take(self) -> tuple[list[QueueItem], int]:
        items: list[QueueItem] = []
        queue = self.queue
        while queue and len(items) < self.max_batch_size:
            try:
                items.append(queue.popleft())
            except IndexError:  # track() pushed the last one out of a full queue meanwhile
                break
        return items, len(items)

    def _build(self, items: list[QueueItem]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        context = self.context
        start = _context.PROCESS_START
        ids = event_ids(len(items))  # before the first attempt: a retry never counts twice
        for i, (name, properties, client, t) in enumerate(items):
            if i and not i % SLICE:
                self._pause()
            try:
                props = self.filter(name, properties, client)
            except Exception:  # noqa: BLE001 - seam: a hostile value (raising __getattr__, …) loses its event only
                self.drops["invalid_value"] += 1
                continue
            if props is None:
                continue
            events.append({
                "event_id": ids[i],
                "event": name,
                "time": int(t * 1000),
                **context,
                "uptime_s": round(max(0.0, t - start), 3),
                "properties": props,
            })
        return events

    def _pause(self) -> None:
        """Let the host's threads have the GIL between slices of work (see _batch) — but not while shutting
        down, when the host is only waiting for us and every millisecond counts against its deadline."""
        if self._deadline is None:
            pause()

    def _take_drops(self) -> dict[str, int]:
        """Move the drop counters into the batch about to be built: each drop is reported by exactly one batch
        (and handed back to the counters when that batch is refused)."""
        queue_full = self.queue_full
        self.drops["queue_full"] += queue_full - self._queue_full_seen
        self._queue_full_seen = queue_full
        dropped = {k: self.drops.get(k, 0) for k in WIRE_DROP_REASONS}
        for k in WIRE_DROP_REASONS:
            self.drops.pop(k, None)
        self.dropped_total.update({k: v for k, v in dropped.items() if v})
        return dropped

    def _new_batch(self) -> Batch | None:
        items, count = self._take()
        events = self._build(items)
        filtered_out = count - len(events)
        if not events:
            self.handled += count
            return None
        batch = Batch(events, self._take_drops(), items=len(events))
        self.handled += filtered_out
        if self.spool is not None:
            self._to_spool(batch)
        return batch

    def _to_spool(self, batch: Batch) -> None:
        assert self.spool is not None
        path, removed = self.spool.write(self._payload(batch), keep=self._spool_loaded)
        for old in removed:  # definitively lost, and counted (with the drop counts it was carrying)
            self.drops["spool_full"] += old.events
            self._carry_over(old.dropped)
            self.handled += self._spooled_items.pop(old.path, 0)
            self._spool_loaded.discard(old.path)
        batch.spool_path = path
        if path is not None:
            self._spool_loaded.add(path)

    def _spool_queue(self) -> None:
        """Move queued events to the spool (when there is one) so that they survive a restart of the host; the
        spool, not the queue, then bounds what is kept while the endpoint is unreachable."""
        if self.spool is None:
            return
        # At most two batches in memory: when the disk refuses to write, the rest waits in the bounded queue.
        while self.queue and len(self.outbox) < 2:
            batch = self._new_batch()
            if batch is not None:
                self.outbox.append(batch)
                # Spooled batches beyond the head need not stay in memory: they are reloaded from disk.
                if len(self.outbox) > 1 and batch.spool_path is not None:
                    self.outbox.pop()
                    self._spool_loaded.discard(batch.spool_path)
                    self._spooled_items[batch.spool_path] = batch.items

    def _next_batch(self) -> Batch | None:
        if self.outbox:
            return self.outbox[0]
        if self.spool is not None:
            for path in self.spool.files():
                if path in self._spool_loaded:
                    continue
                self._spool_loaded.add(path)
                data = self.spool.load(path)
                if data is None:
                    self.spool.remove(path)
                    continue
                dropped = data.get("dropped")
                items = self._spooled_items.pop(path, 0)
                batch = Batch(data["events"], dropped if isinstance(dropped, dict) else {}, items, path)
                self.outbox.append(batch)
                return batch
        fresh = self._new_batch()
        if fresh is None and self._pending_drops():
            # Nothing to send but drops to report (every event filtered out, a full spool): report them
            # in a batch of no events, so that no drop goes unreported when traffic stops.
            fresh = Batch([], self._take_drops())
            self._drops_only_batches += 1
        if fresh is not None:
            self.outbox.append(fresh)
        return fresh

    def _pending_drops(self) -> bool:
        return self.queue_full != self._queue_full_seen or any(self.drops.get(k) for k in WIRE_DROP_REASONS)

    def _payload(self, batch: Batch) -> dict[str, Any]:
        return {"schema_version": 1, "sent_at": int(time.time() * 1000), "dropped": batch.dropped,
                "events": batch.events}

    def _request_timeout(self) -> float:
        if self._deadline is None:
            return REQUEST_TIMEOUT
        return max(0.05, min(REQUEST_TIMEOUT, self._deadline - time.monotonic()))

    def _deliver(self, batch: Batch) -> bool:
        """One attempt for the head batch; True when the worker may go on with the next one."""
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return False
        payload = self._payload(batch)
        try:
            native = type(self.transport).encode is Transport.encode
            body = encode_native(payload, self._pause) if native else self.transport.encode(payload)
        except Exception:  # noqa: BLE001 - seam: a batch that cannot be encoded must not block the ones after it
            self._log_once("encode", "a transport could not encode a batch; it was dropped")
            self._refused(batch)
            return True
        if len(body) > MAX_BATCH_BYTES and len(batch.events) > 1:
            self._split(batch)
            return True
        if not self._notice_done and self.notice is not None:
            self._notice_done = True
            self.notice()
        try:
            result = self.transport.send(body, self._request_timeout())
        except Exception:  # noqa: BLE001 - seam: a third-party Transport that raises is retried like a network error
            result = SendResult.retry()
        self.records.attempt(self.transport, payload, body, result)
        if result.outcome is Outcome.OK:
            self._resolved(batch)
            self.sent_events += len(batch.events)
            self.sent_batches += 1
            self.backoff.answered()
            self.records.delivered(sum(v for v in self.dropped_total.values() if v > 0))
            return True
        if result.outcome is Outcome.RETRY:
            self._backoff(result)
            return False
        self.backoff.answered()  # it answered: the receiver is up
        if result.outcome is Outcome.TOO_LARGE and len(batch.events) > 1:
            self._split(batch)
            return True
        self._log_once(f"drop-{result.status}", f"the receiver refused a batch (HTTP {result.status})")
        self._refused(batch)
        return True

    def _refused(self, batch: Batch) -> None:
        self.dropped_total["refused"] += len(batch.events)
        self._carry_over(batch.dropped)
        self._resolved(batch)

    def _carry_over(self, dropped: dict[str, Any]) -> None:
        """A batch that will never be delivered was carrying drop counts: the next batch reports them."""
        for k, v in dropped.items():
            if k in WIRE_DROP_REASONS and isinstance(v, int) and v > 0:
                self.drops[k] += v
                # (not below zero: a batch replayed from the spool carries drops of an earlier process)
                self.dropped_total[k] = max(0, self.dropped_total[k] - v)

    def _resolved(self, batch: Batch) -> None:
        self.outbox.popleft()
        self.handled += batch.items
        if not batch.events:
            self._drops_only_batches -= 1
        if self.spool is not None and batch.spool_path is not None:
            self.spool.remove(batch.spool_path)
            self._spool_loaded.discard(batch.spool_path)

    def _split(self, batch: Batch) -> None:
        half = len(batch.events) // 2
        first = Batch(batch.events[:half], batch.dropped, batch.items * half // len(batch.events))
        second = Batch(batch.events[half:], {}, batch.items - first.items)
        self.outbox.popleft()
        if self.spool is not None:
            self.spool.remove(batch.spool_path)
            self._to_spool(first)
            self._to_spool(second)
        self.outbox.appendleft(second)
        self.outbox.appendleft(first)

    def _backoff(self, result: SendResult) -> None:
        self.backoff.failed(result.retry_after)
        self._log_once("retry", f"could not deliver telemetry (HTTP {result.status}); will retry")
