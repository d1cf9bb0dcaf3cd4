"""The SDK fault matrix (issue 8): whatever the endpoint, the network or the proxy does, the host app gets no
exception, loses only what overflows the bounded queue (each one counted and reported), receives every other
event once the fault clears — never twice — and exits within about `shutdown_timeout`.

One parametrised test per fault, on 127.0.0.1 only, driving the real SDK against `benchmarks.faults` (a raw
socket endpoint that misbehaves on demand); `python -m benchmarks.faults` prints the same matrix with timings.
Faults also covered at the transport level in tests/sdk: status mapping (test_http), 413 splits, 5xx retries,
black-holed and down exits (test_lifecycle), TLS verification (test_tls_and_amplitude).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from blindai_telemetry import HttpTransport, Outcome
from reliability.sdk_support import endpoints, matrix

FAULTS, ExitProbe, run_fault = matrix.FAULTS, matrix.ExitProbe, matrix.run_fault

EVENTS, QUEUE = 300, 100
#: Generous: interpreter start is not counted, the machine is shared; the tight figure is the benchmark's.
EXIT_BOUND = 3.0


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_the_sdk_survives_the_fault_and_accounts_for_every_event(fault: matrix.Fault, tmp_path: Path) -> None:
    probe = ExitProbe(fault, tmp_path)  # a separate process, running while this one plays the fault
    try:
        result = run_fault(fault, tmp_path, events=EVENTS, queue=QUEUE)
    finally:
        exit_seconds = probe.seconds()

    assert result.raised == 0, "an exception reached the host app"
    # Lost only beyond the bound: the queue holds QUEUE events and the worker one batch on top.
    assert result.dropped.get("queue_full", 0) <= EVENTS - QUEUE
    assert set(result.dropped) <= {"queue_full", "unsent_at_exit"}
    assert result.lost_uncounted == 0, f"events lost without being counted: {result}"
    assert result.delivered <= EVENTS
    if fault.heals:  # once the fault clears, everything that was not dropped arrives, and its drops are reported
        assert result.healed, f"not delivered after the fault cleared: {result}"
        assert result.delivered + result.dropped.get("queue_full", 0) == EVENTS
        assert "unsent_at_exit" not in result.dropped
        assert result.reported == {k: v for k, v in result.dropped.items() if v}
    else:  # nothing can arrive; what was still queued at shutdown waits in the spool for the next start
        assert result.delivered == 0 and result.kept == result.pending > 0
    # Only an answer lost after the batch was stored (reset half-way, or trickled past the send's timeout) makes
    # the SDK send it again; the collector drops the copies by event_id.
    if fault.mode not in ("reset", "trickle"):
        assert result.duplicates == 0
    assert exit_seconds < EXIT_BOUND, probe.stderr()


def test_an_answer_trickled_byte_by_byte_cannot_hold_a_send_beyond_its_timeout() -> None:
    """Every read gets a byte before a per-read timeout would fire; the send's timeout bounds the whole answer."""
    with endpoints.FaultyEndpoint("trickle") as endpoint:
        transport = HttpTransport(endpoint.url)
        started = time.monotonic()
        result = transport.send(b'{"schema_version":1,"sent_at":0,"dropped":{},"events":[]}', timeout=0.5)
        elapsed = time.monotonic() - started
        transport.close()
    assert result.outcome is Outcome.RETRY
    assert elapsed < 2.0  # the whole answer would take 14 s
