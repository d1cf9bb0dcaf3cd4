"""The writer: the one thread that writes to the store, committing whatever is pending as one group.

Requests hand their validated rows to `submit_rows()` and await the returned future; the thread takes every
pending batch at once, calls `store.write()` once for the group (one transaction, one commit), then resolves
each batch's future, so a 200 is only ever sent after the commit (durable acknowledgement). Deletions and
retention run on the same thread as tasks (`submit_task()`), ordered with the writes around them. The buffer
is bounded in events: when full, `submit_rows()` raises `BufferFull` and the request answers 503.

Group commits: a commit costs the store a fixed few milliseconds of CPU whatever its size (DuckDB: a few ms for
its statements and WAL sync, measured in benchmarks/ingest), so one commit per 100-event request spent most of
the collector's CPU. Requests announce themselves while their body is read and checked (`arriving()`); while some
are on their way and the group is under `MIN_GROUP_EVENTS`, the writer waits for them, at most `LINGER`
seconds. A lone request (nothing else on its way) is committed at once: the wait is only paid under load,
where it buys larger commits. A store can ask for more (`Grouped`: ClickHouse, whose guidance is at least 1,000
rows an insert): the writer then waits up to its `group_wait` for the group to reach `MIN_GROUP_EVENTS`, whether
or not a request is on its way. The requests acknowledged by one commit come back while the next group is
written, so without that wait the groups alternate between two halves of the senders (800 rows an insert
with 16 requests of 100 in flight, measured in benchmarks/ingest).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from blindai_telemetry.collector.metrics import Metrics
from blindai_telemetry.stores._rows import CheckedRows
from blindai_telemetry.stores.base import Row, Store, StoreError, WriteResult

if TYPE_CHECKING:
    from blindai_telemetry.collector.forward import AmplitudeForwarder

T = TypeVar("T")
logger = logging.getLogger("blindai_telemetry.collector.writer")

#: Events allowed to wait for the writer: a few seconds of the target load (50,000 events/s), a few hundred
#: MB at most; past it, senders are told to come back later instead of growing memory without bound.
DEFAULT_MAX_PENDING_EVENTS = 200_000
#: Largest group committed at once: bounds a transaction's memory and the latency of the batches behind it.
MAX_GROUP_EVENTS = 50_000
#: Group size under which the writer waits for requests on their way (ClickHouse's advice: >= 1,000 rows an insert).
MIN_GROUP_EVENTS = 1_000
#: Longest wait for those requests: a bound on the latency the wait adds to the batches already in the group.
LINGER = 0.005


@runtime_checkable
class Maintained(Protocol):
    """A store with upkeep to do between writes (DuckDB's checkpoints), best done while no batch waits."""

    def maintain(self, idle: bool) -> None: ...


@runtime_checkable
class Grouped(Protocol):
    """A store that wants commits of at least `MIN_GROUP_EVENTS` enough to make batches wait for them."""

    #: Longest wait, in seconds, for the group to reach `MIN_GROUP_EVENTS` (requests on their way or not).
    group_wait: float


class RowsRefused(Exception):
    """The store refused a batch's rows as invalid: answer 400 (retrying cannot help)."""


class BufferFull(Exception):
    """The writer's buffer is full (or the writer is stopping): answer 503 with Retry-After."""


@dataclass(frozen=True)
class BatchResult:
    """What the store did with one request's rows."""

    inserted: int
    duplicates: int


@dataclass
class _Job:
    future: concurrent.futures.Future[Any]
    rows: Sequence[Row] | None = None
    task: Callable[[Store], Any] | None = None


class Writer:
    def __init__(self, store: Store, metrics: Metrics, max_pending_events: int = DEFAULT_MAX_PENDING_EVENTS,
                 forwarder: AmplitudeForwarder | None = None):
        self._store = store
        self._forwarder = forwarder
        self._metrics = metrics
        self._max_pending = max_pending_events
        self._jobs: collections.deque[_Job] = collections.deque()
        self._pending_events = 0
        self._arriving = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._maintained = store if isinstance(store, Maintained) else None
        self._group_wait = store.group_wait if isinstance(store, Grouped) else 0.0

    @property
    def accepting(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="blindai-telemetry-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Refuse new work, finish everything already submitted, and stop; True when drained in time."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @contextlib.contextmanager
    def arriving(self) -> Iterator[None]:
        """Mark a request on its way to `submit_rows()` (its body being read and checked): see group commits."""
        with self._cond:
            self._arriving += 1
        try:
            yield
        finally:
            with self._cond:
                self._arriving -= 1
                self._cond.notify()

    def submit_rows(self, rows: Sequence[Row]) -> concurrent.futures.Future[BatchResult]:
        """Queue rows for the next group commit; the future resolves once they are committed."""
        future: concurrent.futures.Future[BatchResult] = concurrent.futures.Future()
        with self._cond:
            if self._stopping or self._thread is None:
                raise BufferFull("the collector is not accepting events (starting or shutting down)")
            if self._pending_events + len(rows) > self._max_pending:
                raise BufferFull("the write buffer is full")
            self._pending_events += len(rows)
            self._jobs.append(_Job(future, rows=rows))
            self._metrics.pending_events.set(self._pending_events)
            self._cond.notify()
        return future

    def submit_task(self, task: Callable[[Store], T]) -> concurrent.futures.Future[T]:
        """Run `task(store)` on the writer thread, after every write submitted before it."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._cond:
            if self._stopping or self._thread is None:
                raise BufferFull("the collector is not accepting events (starting or shutting down)")
            self._jobs.append(_Job(future, task=task))
            self._cond.notify()
        return future

    def _take(self) -> list[_Job] | None:
        """The next group: one task alone, or consecutive row batches up to MAX_GROUP_EVENTS."""
        with self._cond:
            while not self._jobs:
                if self._stopping:
                    return None
                self._cond.wait()
            first = self._jobs.popleft()
            if first.rows is None:
                return [first]
            group = [first]
            size = len(first.rows)
            deadline = time.monotonic() + max(LINGER, self._group_wait)
            while True:
                while self._jobs and self._jobs[0].rows is not None:
                    nxt = self._jobs[0].rows
                    if size + len(nxt) > MAX_GROUP_EVENTS:
                        return group
                    size += len(nxt)
                    group.append(self._jobs.popleft())
                left = deadline - time.monotonic()
                more = self._arriving or self._group_wait
                if self._jobs or size >= MIN_GROUP_EVENTS or not more or self._stopping or left <= 0:
                    return group
                self._cond.wait(left)  # woken by a submission or by a request refused on its way

    def _run(self) -> None:
        while (group := self._take()) is not None:
            if group[0].task is not None:
                self._run_task(group[0])
            else:
                self._write(group)
            if self._maintained is not None:
                self._maintain(self._maintained)

    def _maintain(self, store: Maintained) -> None:
        """Let the store do its upkeep when no batch is waiting, so that no request waits for it."""
        with self._cond:
            idle = not self._jobs
        try:
            store.maintain(idle)
        except Exception as exc:  # noqa: BLE001 - seam: upkeep failing must not stop the writer
            logger.warning("store upkeep failed: %s", type(exc).__name__)

    def _run_task(self, job: _Job) -> None:
        assert job.task is not None
        try:
            result = job.task(self._store)
        except Exception as exc:  # noqa: BLE001 - seam: a failing task fails its request, never the thread
            logger.warning("store task failed: %s", type(exc).__name__)
            job.future.set_exception(exc if isinstance(exc, StoreError) else StoreError(type(exc).__name__))
        else:
            job.future.set_result(result)

    def _write(self, group: list[_Job]) -> None:
        try:
            self._commit(group)
        finally:
            with self._cond:
                self._pending_events -= sum(len(job.rows or ()) for job in group)
                self._metrics.pending_events.set(self._pending_events)

    def _commit(self, group: list[_Job]) -> None:
        # The group stays `CheckedRows` (the store trusts the validator's checks) only if every batch of it is.
        trusted = all(isinstance(job.rows, CheckedRows) for job in group)
        rows: list[Any] = CheckedRows() if trusted else []
        for job in group:
            assert job.rows is not None
            rows.extend(job.rows)
        started = time.perf_counter()
        try:
            result = self._store.write(rows)
        except StoreError as exc:  # the store is down or full: every batch of the group gets a 503
            logger.warning("store write of %d events failed: %s", len(rows), exc)
            for job in group:
                job.future.set_exception(exc)
            return
        except Exception as exc:  # noqa: BLE001 - seam: the store refused some rows (a validation gap)
            if len(group) > 1:
                # Write each batch alone, so that one bad batch does not fail the others committed with it.
                for job in group:
                    self._commit([job])
                return
            logger.warning("store refused a batch of %d events: %s", len(rows), type(exc).__name__)
            group[0].future.set_exception(RowsRefused(str(exc)[:200]))
            return
        self._metrics.store_write_seconds.observe(time.perf_counter() - started)
        self._metrics.deduplicated.inc(result.duplicates)
        if self._forwarder is not None:
            self._forward(rows)
        for job, batch in zip(group, _attribute(group, result), strict=True):
            job.future.set_result(batch)

    def _forward(self, rows: Sequence[Row]) -> None:
        """Add the committed rows to the forwarder's durable outbox before acknowledging them."""
        assert self._forwarder is not None
        try:
            self._forwarder.enqueue(rows)
        except Exception as exc:  # noqa: BLE001 - seam: the events are stored; only their forwarding is lost
            self._metrics.forward_lost.inc(len(rows))
            logger.warning("could not queue %d events for Amplitude: %s", len(rows), type(exc).__name__)


def _attribute(group: list[_Job], result: WriteResult) -> list[BatchResult]:
    """Split a group's write result into one result per batch.

    Exact when the group is one batch, or when every duplicate is explained by an event id repeated inside
    the group. Otherwise (a retried batch committed together with others) the remaining duplicates, which
    the store only counts in total, are attributed to the batches in order: the totals stay exact.
    """
    if len(group) == 1:
        return [BatchResult(result.inserted, result.duplicates)]
    seen: set[Any] = set()
    inner: list[int] = []
    for job in group:
        assert job.rows is not None
        repeated = 0
        for row in job.rows:
            event_id = row.get("event_id")
            if event_id in seen:
                repeated += 1
            else:
                seen.add(event_id)
        inner.append(repeated)
    unexplained = max(0, result.duplicates - sum(inner))
    out = []
    for job, repeated in zip(group, inner, strict=True):
        assert job.rows is not None
        extra = min(unexplained, len(job.rows) - repeated)
        unexplained -= extra
        duplicates = repeated + extra
        out.append(BatchResult(len(job.rows) - duplicates, duplicates))
    return out
