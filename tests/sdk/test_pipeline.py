"""The worker: batching, the bounded queue, drop accounting, retries, refusals, 413 splits and the pause."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest

from blindai_telemetry import InMemoryTransport, SendResult, Telemetry, _backoff


def test_flush_delivers_everything_queued_with_context_and_unique_ids(
        make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport, mode="simulation", flush_interval=60)
    for i in range(1234):
        telemetry.track("model_run", model_name="resnet50", duration_ms=float(i))
    assert telemetry.flush(timeout=10.0)
    events = transport.events
    assert [e["properties"]["duration_ms"] for e in events] == [float(i) for i in range(1234)]
    assert len({e["event_id"] for e in events}) == 1234
    assert all(len(p["events"]) <= 500 for p in transport.payloads)  # max_batch_size
    first = events[0]
    assert first["install_id"] == telemetry.install_id and first["mode"] == "simulation"
    assert first["app"] == "blindai-server" and first["is_ci"] is False
    assert abs(first["time"] - time.time() * 1000) < 60_000


def test_worker_wakes_when_a_batch_is_full_not_only_on_the_interval(
        make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport, flush_interval=60, max_batch_size=10)
    for _ in range(10):
        telemetry.track("server_started")
    with transport.received:
        assert transport.received.wait_for(lambda: transport.delivered, timeout=10.0)


def test_full_queue_drops_oldest_counts_and_reports_the_drops(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport, flush_interval=60, max_queue_size=100, max_batch_size=1000)
    for i in range(250):
        telemetry.track("model_run", duration_ms=float(i))
    assert telemetry.stats()["dropped"] == {"queue_full": 150}
    assert telemetry.flush(timeout=10.0)
    assert [e["properties"]["duration_ms"] for e in transport.events] == [float(i) for i in range(150, 250)]
    assert transport.payloads[0]["dropped"]["queue_full"] == 150
    # reported once: the next batch starts from zero
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    assert transport.payloads[-1]["dropped"]["queue_full"] == 0


def test_drops_without_any_event_left_are_still_reported(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport, flush_interval=60)
    telemetry.track("no_such_event")
    assert telemetry.flush(timeout=10.0)
    assert transport.payloads == [{"schema_version": 1, "sent_at": transport.payloads[0]["sent_at"], "events": [],
                                   "dropped": {"queue_full": 0, "unknown_event": 1, "unknown_property": 0,
                                               "invalid_value": 0, "spool_full": 0}}]


def test_filter_drops_are_reported_in_the_batch_and_then_reset(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport, flush_interval=60)
    telemetry.track("no_such_event")
    telemetry.track("model_run", secret="x", duration_ms="slow")
    assert telemetry.flush(timeout=10.0)
    assert transport.payloads[0]["dropped"] == {"queue_full": 0, "unknown_event": 1, "unknown_property": 1,
                                                "invalid_value": 1, "spool_full": 0}
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    assert set(transport.payloads[-1]["dropped"].values()) == {0}


def test_retry_resends_the_same_event_ids_and_delivers_once(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport([SendResult.retry(0.0), SendResult.retry(0.0), SendResult.OK])
    telemetry = make_telemetry(transport=transport)
    for _ in range(5):
        telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    ids = [[e["event_id"] for e in p["events"]] for p in transport.payloads]
    assert len(ids) == 3 and ids[0] == ids[1] == ids[2]
    assert len(transport.events) == 5
    assert telemetry.stats()["consecutive_failures"] == 0


def test_refused_batch_is_dropped_counted_and_its_drop_counts_carried_on(
        make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport([SendResult.DROP])
    telemetry = make_telemetry(transport=transport, flush_interval=60)
    telemetry.track("no_such_event")
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)  # definitively handled
    assert telemetry.stats()["dropped"] == {"refused": 1, "unknown_event": 1}
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    # the unknown_event drop rode on the refused batch, so a later delivered batch reports it, once
    assert sum(p["dropped"]["unknown_event"] for p in transport.delivered) == 1
    assert len(transport.events) == 1


def test_too_large_splits_the_batch_until_it_fits(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport([SendResult.TOO_LARGE, SendResult.TOO_LARGE])
    telemetry = make_telemetry(transport=transport, flush_interval=60)
    for i in range(8):
        telemetry.track("model_run", duration_ms=float(i))
    assert telemetry.flush(timeout=10.0)
    assert [len(p["events"]) for p in transport.payloads] == [8, 4, 2, 2, 4]
    assert [e["properties"]["duration_ms"] for e in transport.events] == [float(i) for i in range(8)]


def test_a_single_event_too_large_is_dropped_and_counted(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport([SendResult.TOO_LARGE])
    telemetry = make_telemetry(transport=transport, flush_interval=60)
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    assert telemetry.stats()["dropped"] == {"refused": 1}


def test_after_repeated_failures_the_worker_pauses_instead_of_hammering(
        make_telemetry: Callable[..., Telemetry], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_backoff, "BACKOFF_BASE", 0.001)  # fast backoff, so that the circuit opens quickly
    monkeypatch.setattr(_backoff, "CIRCUIT_PAUSE", 30.0)
    transport = InMemoryTransport(default=SendResult.retry())
    telemetry = make_telemetry(transport=transport, flush_interval=0.01)
    telemetry.track("server_started")
    deadline = time.monotonic() + 10
    while len(transport.payloads) < _backoff.CIRCUIT_THRESHOLD and time.monotonic() < deadline:
        with transport.received:
            transport.received.wait(0.05)
    assert len(transport.payloads) == _backoff.CIRCUIT_THRESHOLD
    # the circuit is open: over the next half second (50 flush intervals) nothing more is attempted
    with transport.received:
        assert not transport.received.wait_for(lambda: len(transport.payloads) > _backoff.CIRCUIT_THRESHOLD,
                                               timeout=0.5)
    assert telemetry.stats()["consecutive_failures"] == _backoff.CIRCUIT_THRESHOLD
    for _ in range(3 * _backoff.CIRCUIT_THRESHOLD):  # the queue stays bounded meanwhile
        telemetry.track("server_started")


def test_retry_after_is_honoured_even_by_flush(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport([SendResult.retry(0.6)])
    telemetry = make_telemetry(transport=transport, flush_interval=0.01)
    telemetry.track("server_started")
    with transport.received:
        assert transport.received.wait_for(lambda: transport.payloads, timeout=10.0)
    first = time.monotonic()
    assert telemetry.flush(timeout=10.0)
    assert time.monotonic() - first >= 0.5
    assert len(transport.payloads) == 2


def test_flush_returns_false_when_the_endpoint_keeps_failing(make_telemetry: Callable[..., Telemetry]) -> None:
    telemetry = make_telemetry(transport=InMemoryTransport(default=SendResult.retry()))
    telemetry.track("server_started")
    started = time.monotonic()
    assert telemetry.flush(timeout=0.3) is False
    assert time.monotonic() - started < 2.0


def test_shutdown_stops_the_worker_and_is_idempotent(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport, flush_interval=60)
    telemetry.track("server_stopped")
    assert telemetry.shutdown(timeout=5.0)
    assert [e["event"] for e in transport.events] == ["server_stopped"]
    assert telemetry.stats()["running"] is False
    assert telemetry.shutdown(timeout=5.0)
    telemetry.track("server_started")  # after shutdown: ignored, never raises


def test_batches_stay_under_one_megabyte_as_sent(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport, flush_interval=60, max_batch_size=3000, model_names="raw")
    name = ("acme model " * 20)[:200]
    for _ in range(3000):
        telemetry.track("model_run", model_name=name, duration_ms=1.0)
    assert telemetry.flush(timeout=30.0)
    sizes = [len(json.dumps(p, separators=(",", ":"), ensure_ascii=False).encode()) for p in transport.payloads]
    assert len(sizes) > 1 and max(sizes) <= 1_000_000
    assert len(transport.events) == 3000


class _GatedTransport(InMemoryTransport):
    """Holds each send until `gate` is set, so that events can arrive while a batch is on its way."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.sending = threading.Event(), threading.Event()

    def send(self, body: bytes, timeout: float) -> SendResult:
        self.sending.set()
        self.gate.wait(10.0)
        return super().send(body, timeout)


def test_what_arrives_during_a_send_waits_to_fill_a_batch(make_telemetry: Callable[..., Telemetry]) -> None:
    """A busy host's events trickle in while a batch is sent: they go out as a full batch (or at the interval,
    or on flush), not as a request of a few events after every send."""
    transport = _GatedTransport()
    telemetry = make_telemetry(transport=transport, flush_interval=60, max_batch_size=10)
    for _ in range(10):
        telemetry.track("model_run", duration_ms=1.0)
    assert transport.sending.wait(10.0)  # the full batch is on its way
    for _ in range(3):
        telemetry.track("model_run", duration_ms=2.0)
    transport.gate.set()
    deadline = time.monotonic() + 10.0
    while telemetry.stats()["cycles"] < 1 and time.monotonic() < deadline:  # the worker is done with its wake-up
        time.sleep(0.005)
    assert [len(p["events"]) for p in transport.payloads] == [10] and telemetry.stats()["queued"] == 3
    for _ in range(7):
        telemetry.track("model_run", duration_ms=3.0)
    with transport.received:
        assert transport.received.wait_for(lambda: len(transport.events) == 20, timeout=10.0)
    assert [len(p["events"]) for p in transport.payloads] == [10, 10]
