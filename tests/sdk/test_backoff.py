"""The retry policy: exponential backoff with full jitter, Retry-After, and a capped pause after 5 failures."""

from __future__ import annotations

import time
from collections.abc import Callable

from blindai_telemetry import InMemoryTransport, SendResult, Telemetry
from blindai_telemetry._backoff import (
    BACKOFF_CAP,
    CIRCUIT_PAUSE,
    CIRCUIT_PAUSE_CAP,
    CIRCUIT_THRESHOLD,
    Backoff,
)


def _upper_bound(low: float, high: float) -> float:
    return high  # the worst case of full jitter


def test_delays_grow_exponentially_up_to_the_cap_then_pause() -> None:
    backoff = Backoff(clock=lambda: 100.0, jitter=_upper_bound)
    delays = [backoff.failed() for _ in range(12)]
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert all(d <= BACKOFF_CAP for d in delays[:CIRCUIT_THRESHOLD - 1])
    assert delays[CIRCUIT_THRESHOLD - 1] == CIRCUIT_PAUSE  # the circuit opens
    assert delays[CIRCUIT_THRESHOLD] == 2 * CIRCUIT_PAUSE  # and the pause doubles
    assert delays[-1] == CIRCUIT_PAUSE_CAP
    assert backoff.resume_at == 100.0 + CIRCUIT_PAUSE_CAP


def test_full_jitter_draws_between_zero_and_the_exponential_bound() -> None:
    draws: list[tuple[float, float]] = []
    backoff = Backoff(jitter=lambda low, high: draws.append((low, high)) or low)
    backoff.failed()
    backoff.failed()
    assert draws == [(0.0, 1.0), (0.0, 2.0)]


def test_retry_after_is_used_as_it_is_and_marked_explicit() -> None:
    backoff = Backoff(clock=lambda: 0.0)
    assert backoff.failed(retry_after=7.0) == 7.0 and backoff.explicit
    assert backoff.failed() < 7.0 and not backoff.explicit


def test_only_the_receivers_wait_binds_flush_not_the_circuit_pause_after_it() -> None:
    now = [0.0]
    backoff = Backoff(clock=lambda: now[0])
    for _ in range(CIRCUIT_THRESHOLD + 1):  # a run of 429s with Retry-After: 1
        backoff.failed(retry_after=1.0)
    assert backoff.remaining() >= CIRCUIT_PAUSE and backoff.explicit
    now[0] = 1.5  # the receiver's second is over; what remains is our own pause, which flush() may cut short
    assert backoff.remaining() > 0 and not backoff.explicit


def test_an_answer_closes_the_circuit() -> None:
    backoff = Backoff()
    for _ in range(CIRCUIT_THRESHOLD + 2):
        backoff.failed()
    assert backoff.remaining() > 0
    backoff.answered()
    assert backoff.failures == 0 and backoff.remaining() == 0


def test_worker_does_not_spin_after_a_refusal_ends_a_backoff(make_telemetry: Callable[..., Telemetry]) -> None:
    """Regression: a past backoff deadline must not turn the worker's wait into a busy loop."""
    transport = InMemoryTransport([SendResult.retry(0.0), SendResult.DROP])
    telemetry = make_telemetry(transport=transport, flush_interval=0.2)
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    cycles = telemetry.stats()["cycles"]
    time.sleep(0.5)  # measuring idleness: nothing to synchronise on
    assert telemetry.stats()["cycles"] - cycles <= 4  # one per flush interval, not thousands
