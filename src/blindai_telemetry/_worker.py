"""The worker: one daemon thread that turns queued items into batches and delivers them.

Its parts each have one job: `BoundedQueue` (what `track()` hands over), `EventBuilder` (ids, context, privacy
filter), `Outbox` (batches waiting, in memory and on disk), `DropLedger` (every loss, counted once), the
transport, `Backoff` (exponential with full jitter, Retry-After, a pause after repeated failures), the
transparency log and `delivery.json`. Like OpenTelemetry's BatchProcessor it wakes every flush interval or when
a batch is full, and is re-created in a forked child; like sentry-python's worker it never raises into the host
and shuts down against a deadline.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from blindai_telemetry import _context
from blindai_telemetry._backoff import Backoff
from blindai_telemetry._batch import Batch, Pacer, encode_native
from blindai_telemetry._builder import EventBuilder
from blindai_telemetry._delivery import DeliveryLog
from blindai_telemetry._ledger import DropLedger
from blindai_telemetry._outbox import Outbox
from blindai_telemetry._queue import BoundedQueue
from blindai_telemetry._records import LocalRecords
from blindai_telemetry._spool import Spool
from blindai_telemetry._transport import Outcome, SendResult, Transport

logger = logging.getLogger("blindai_telemetry")

#: Per-request bound outside shutdown: long enough for a slow link, short enough not to stall the queue.
REQUEST_TIMEOUT = 10.0
#: Amplitude and our collector refuse more than 1 MB per request (RESEARCH.md §2).
MAX_BATCH_BYTES = 1_000_000
#: Of a shutdown's time, what is kept back to write the unacknowledged events to the spool.
KEEP_RESERVE = 0.2


class Worker:
    def __init__(self, queue: BoundedQueue, ledger: DropLedger, builder: EventBuilder, spool: Spool | None,
                 transport: Transport, *, pacer: Pacer, records: LocalRecords, delivery: DeliveryLog,
                 flush_interval: float, notice: Callable[[], object] | None = None) -> None:
        self.queue, self.ledger, self.builder = queue, ledger, builder
        self.outbox = Outbox(spool, ledger, pacer, self._settle)
        self.transport = transport
        self.pacer = pacer
        self.records = records
        self.delivery = delivery
        self.flush_interval = flush_interval
        self.notice = notice
        self._reset()

    def _reset(self) -> None:
        """Fresh runtime state: at start, and in a forked child (whose copy of a lock may be held by a thread
        that does not exist there)."""
        self.progress = threading.Condition(threading.Lock())
        self.backoff = Backoff()
        self.settled = 0  # queued items delivered, refused, filtered out or pushed out of the spool
        self.sent_events = 0
        self.sent_batches = 0
        self.cycles = 0  # worker cycles completed, so that flush() knows its forced attempt happened
        self._force = False
        self._flushing = 0  # flush() calls waiting (guarded by `progress`)
        self._deadline: float | None = None  # of the last sends, at shutdown
        self._exit_deadline: float | None = None  # of the shutdown itself
        self.stopping = False
        self._building = threading.Lock()  # held while the worker builds or keeps; the host takes it at exit
        self.thread = threading.Thread(target=self._run, name="blindai-telemetry", daemon=True)

    def _settle(self, items: int) -> None:
        self.settled += items

    def start(self) -> None:
        self.thread.start()

    def after_fork_in_child(self) -> None:
        self.builder.context.update(session_id=str(uuid.uuid4()))
        _context.reset_process_start()
        self.queue.reset_after_fork()
        self.ledger.reset_after_fork()
        self._reset()
        self.outbox.reset_after_fork(self._settle)
        self.start()

    # --- flush / shutdown (host thread) --------------------------------------------------------------------
    def _done_with(self, target: int) -> bool:
        """Everything queued up to `target` is delivered or dropped, what earlier processes left is delivered,
        and every drop so far is reported."""
        _, overflowed = self.queue.counts()
        return (self.settled + overflowed >= target and not self.outbox.pending()
                and not self.ledger.has_unreported())

    def flush(self, timeout: float) -> bool:
        target, _ = self.queue.counts()
        if self._done_with(target):
            return True
        deadline = time.monotonic() + max(timeout, 0.0)
        cycles = self.cycles
        with self.progress:
            self._flushing += 1  # the worker sends part batches too while someone waits
        self._force = True
        self.queue.wake.set()
        with self.progress:
            try:
                while not self._done_with(target):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self.thread.is_alive():
                        return False
                    if self.cycles > cycles and not self._force and self.backoff.resume_at > deadline:
                        return False  # the forced attempt failed and the next one comes after our deadline
                    self.progress.wait(min(remaining, 0.5))
            finally:
                self._flushing -= 1
        return True

    def shutdown(self, timeout: float) -> bool:
        """Flush within `timeout`, then stop; what is not acknowledged by then goes to the spool. Never waits
        beyond the deadline, whatever the endpoint does: the worker derives its socket timeouts from it."""
        if self.stopping:
            return self._done_with(self.queue.counts()[0])
        deadline = time.monotonic() + max(timeout, 0.0)
        self._exit_deadline = deadline
        reserve = min(KEEP_RESERVE, timeout / 4)
        self._deadline = deadline - reserve
        self.pacer.enabled = False  # the host only waits for us now: every millisecond counts
        delivered = self.flush(max(0.0, timeout - reserve)) if self.thread.is_alive() else False
        self.stopping = True
        self.queue.close()
        self.queue.wake.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(max(0.0, deadline - time.monotonic()))
        if self.thread.is_alive():  # stuck in a send: keep what we can from here, within the deadline
            self._keep_at_exit(deadline)
        return delivered

    def stats(self) -> dict[str, Any]:
        accepted, overflowed = self.queue.counts()
        return {
            "queued": len(self.queue),
            "enqueued": accepted,
            "handled": self.settled + overflowed,
            "sent": self.sent_events,
            "batches": self.sent_batches,
            "pending_batches": len(self.outbox),
            "consecutive_failures": self.backoff.failures,
            "dropped": self.ledger.totals(),
            "cycles": self.cycles,
            "running": self.thread.is_alive(),
        }

    # --- worker ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self.stopping:
            delay = self.flush_interval
            pause = self.backoff.remaining()
            if pause > 0:
                delay = min(delay, pause)
            self.queue.wake.wait(delay)
            self.queue.wake.clear()
            if self.stopping:
                break
            try:
                self._cycle()
            except Exception:  # seam: the worker must survive anything, or telemetry silently stops
                logger.debug("blindai-telemetry worker error", exc_info=True)
            finally:
                self.cycles += 1
                self.pacer.idle()
                with self.progress:
                    self.progress.notify_all()
        self._keep_at_exit(self._exit_deadline)
        self.transport.close()
        with self.progress:
            self.progress.notify_all()

    def _cycle(self) -> None:
        # flush()/shutdown() skip our own backoff once, but never a wait the receiver asked for.
        if self.backoff.remaining() > 0 and (not self._force or self.backoff.explicit):
            self._park()
            return
        while not self.stopping:
            batch = self._next_batch()
            if batch is None:
                break
            if not self._deliver(batch):
                self._force = False  # one forced attempt per flush() call, then the normal backoff
                self._park()
                return
            if not (self._force or self._flushing or self.outbox.pending()
                    or len(self.queue) >= self.queue.batch_size):
                # What came in during the send is a part batch: it waits to fill up or for the next interval.
                # Sending it at once made a server tracking ~1,000 events/s send a batch of a few events after
                # every send, and pay a request, a log write and a thread switch for each: 70 µs an event.
                break
        self._force = False

    def _next_batch(self) -> Batch | None:
        head = self.outbox.head()
        if head is not None:
            return head
        with self._building:
            batch = self._build()
        if batch is not None:
            self.outbox.push(batch)
        return batch

    def _build(self) -> Batch | None:
        """The next batch from the queue; a batch of no events when only drop counts are left to report."""
        while True:
            items = self.queue.take(self.queue.batch_size)
            events, clients = self.builder.build(items) if items else ([], None)
            self._settle(len(items) - len(events))  # filtered out: handled
            if events or (not items and self.ledger.has_unreported()):
                return Batch(events, self.ledger.take_report(), len(events), None, self.builder.context, clients)
            if not items:
                return None

    def _park(self) -> None:
        """The collector is not taking batches: what is built or queued waits on disk, not in memory."""
        if not self.outbox.spill():
            return  # no spool, or the disk refuses: the bounded queue holds what waits
        with self._building:
            while len(self.queue) and not self.stopping:
                batch = self._build()
                if batch is None:
                    break
                if not self.outbox.keep(batch):
                    self.outbox.push(batch)  # the disk refused: it waits in memory, the queue bounds the rest
                    break

    def _keep_at_exit(self, deadline: float | None) -> None:
        """Leave every unacknowledged event in the spool for the next process; count what cannot be kept."""
        if not self._building.acquire(timeout=max(0.0, deadline - time.monotonic()) if deadline else -1):
            return
        try:
            while len(self.queue):
                if deadline is not None and time.monotonic() >= deadline:
                    break
                batch = self._build()
                if batch is None:
                    break
                if not self.outbox.keep(batch):
                    self.ledger.lost("unsent_at_exit", len(batch.events))
                    self.ledger.give_back(batch.dropped)
            unsent = len(self.queue.drain())  # and a late track() counts its own event as lost
            self.ledger.lost("unsent_at_exit", unsent + self.outbox.keep_all())
            self.delivery.write(lost=self.ledger.events_lost())
        finally:
            self._building.release()

    def _request_timeout(self) -> float:
        if self._deadline is None:
            return REQUEST_TIMEOUT
        return max(0.05, min(REQUEST_TIMEOUT, self._deadline - time.monotonic()))

    def _encode(self, batch: Batch) -> bytes:
        if type(self.transport).encode is Transport.encode:  # the native format: context spliced, in slices
            return encode_native(batch, self.pacer)
        return self.transport.encode(batch.payload())

    def _deliver(self, batch: Batch) -> bool:
        """One attempt for the head batch; True when the worker may go on with the next one."""
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return False
        try:
            body = self._encode(batch)
        except Exception:  # noqa: BLE001 - seam: a batch that cannot be encoded must not block the ones after it
            self._refused(batch, "a transport could not encode a batch")
            return True
        if len(body) > MAX_BATCH_BYTES and len(batch.events) > 1:
            self.outbox.replace_head(*batch.split())
            return True
        notice, self.notice = self.notice, None
        if notice is not None:
            notice()
        try:
            result = self.transport.send(body, self._request_timeout())
        except Exception:  # noqa: BLE001 - seam: a third-party Transport that raises is retried like a network error
            result = SendResult.retry()
        self.records.attempt(self.transport, len(batch.events), body, result)
        return self._outcome(batch, result)

    def _outcome(self, batch: Batch, result: SendResult) -> bool:
        if result.outcome is Outcome.OK:
            self.outbox.resolved()
            self.sent_events += len(batch.events)
            self.sent_batches += 1
            self.backoff.answered()
            self.delivery.attempted(len(batch.events), None, self.ledger.events_lost())
            return True
        if result.outcome is Outcome.RETRY:
            self.backoff.failed(result.retry_after)
            self.delivery.attempted(0, self._describe(result), self.ledger.events_lost())
            return False
        self.backoff.answered()  # it answered: the receiver is up
        if result.outcome is Outcome.TOO_LARGE and len(batch.events) > 1:
            self.outbox.replace_head(*batch.split())
            return True
        self._refused(batch, self._describe(result))
        return True

    def _refused(self, batch: Batch, why: str) -> None:
        """The batch will never be delivered: its events are lost, its drop counts go out with the next one."""
        self.ledger.lost("refused", len(batch.events))
        self.ledger.give_back(batch.dropped)
        self.outbox.resolved()
        self.delivery.attempted(0, why, self.ledger.events_lost(), retried=False)

    def _describe(self, result: SendResult) -> str:
        where = f"the collector at {self.transport.endpoint}" if self.transport.endpoint else "the transport"
        if result.status is not None:
            verb = "refused a batch" if result.outcome is Outcome.DROP else "asked to retry"
            return f"{where} {verb} (HTTP {result.status})"
        if result.error is None:
            return f"{where} did not take a batch"
        return f"{where} did not answer ({result.error})"
