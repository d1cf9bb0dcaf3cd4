"""Every way an event can be lost goes through the DropLedger: counted once, by reason, in `stats()["dropped"]`.

Paths tested elsewhere: `queue_full`, the filter's `unknown_event`/`unknown_property`/`invalid_value` and
`refused` (test_pipeline), `spool_full` (test_spool), `unsent_at_exit` without a spool (test_spool_processes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from blindai_telemetry import InMemoryTransport, SendResult, Telemetry, Transport
from blindai_telemetry._ledger import WIRE_DROP_REASONS, DropLedger


def test_the_report_carries_each_wire_drop_once_and_a_lost_report_is_given_back() -> None:
    ledger = DropLedger()
    ledger.lost("queue_full", 3)
    ledger.lost("refused", 2)  # local only: the collector refused those, it knows
    report = ledger.take_report()
    assert report == {**dict.fromkeys(WIRE_DROP_REASONS, 0), "queue_full": 3}
    assert not ledger.has_unreported() and set(ledger.take_report().values()) == {0}
    ledger.give_back(report)  # the batch carrying it was lost in turn
    assert ledger.take_report()["queue_full"] == 3
    assert ledger.totals() == {"queue_full": 3, "refused": 2} and ledger.events_lost() == 5


class _HostileText(str):
    """A string whose methods raise: the filter fails on it, on the worker."""

    def isascii(self) -> bool:
        raise RuntimeError("hostile")


def test_an_event_the_filter_fails_on_is_counted_invalid(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport, flush_interval=60)
    telemetry.track("model_run", error_kind=_HostileText("internal"))
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    assert [e["event"] for e in transport.events] == ["server_started"]
    assert telemetry.stats()["dropped"] == {"invalid_value": 1}
    assert transport.payloads[-1]["dropped"]["invalid_value"] == 1


def test_a_failure_inside_track_loses_its_event_counted(make_telemetry: Callable[..., Telemetry],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    telemetry = make_telemetry(transport=InMemoryTransport(), flush_interval=60)

    def broken_clock() -> float:
        raise OSError("clock unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(time, "time", broken_clock)
        telemetry.track("server_started")  # never raises into the host
    assert telemetry.stats()["dropped"] == {"track_error": 1}


def test_events_tracked_after_shutdown_are_counted_not_kept(make_telemetry: Callable[..., Telemetry]) -> None:
    telemetry = make_telemetry(transport=InMemoryTransport())
    assert telemetry.shutdown(timeout=5.0)
    telemetry.track("server_started")
    stats = telemetry.stats()
    assert stats["dropped"] == {"after_shutdown": 1} and stats["queued"] == 0


class _CannotEncode(Transport):
    name = "broken"

    def encode(self, batch: object) -> bytes:
        raise ValueError("cannot encode")

    def send(self, body: bytes, timeout: float) -> SendResult:
        raise AssertionError("never called")


def test_a_batch_the_transport_cannot_encode_is_counted_refused(make_telemetry: Callable[..., Telemetry]) -> None:
    telemetry = make_telemetry(transport=_CannotEncode(), flush_interval=60)
    telemetry.track("server_started")
    telemetry.track("server_stopped")
    assert telemetry.flush(timeout=10.0)
    assert telemetry.stats()["dropped"] == {"refused": 2}


def test_events_neither_sent_nor_written_at_exit_are_counted_unsent(make_telemetry: Callable[..., Telemetry],
                                                                   tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")  # the spool's directory cannot be made: the disk refuses
    telemetry = make_telemetry(transport=InMemoryTransport(default=SendResult.retry(30.0)),
                               spool_dir=tmp_path / "file" / "spool")
    for _ in range(7):
        telemetry.track("server_started")
    assert telemetry.shutdown(timeout=0.5) is False
    assert telemetry.stats()["dropped"] == {"unsent_at_exit": 7}


def test_a_delivery_failure_is_logged_once_per_cause(make_telemetry: Callable[..., Telemetry],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    transport = InMemoryTransport([SendResult.retry(0.0, status=503)] * 3 + [SendResult(SendResult.DROP.outcome, None,
                                                                                           400)] * 2)
    telemetry = make_telemetry(transport=transport, max_batch_size=1)
    with caplog.at_level("WARNING", logger="blindai_telemetry"):
        telemetry.track("server_started")
        assert telemetry.flush(timeout=10.0)  # retried three times, then delivered
        telemetry.track("server_started")
        telemetry.track("server_stopped")
        assert telemetry.flush(timeout=10.0)  # both refused
    lines = [r.getMessage() for r in caplog.records if r.name == "blindai_telemetry"]
    assert lines == ["blindai-telemetry: the transport asked to retry (HTTP 503); its events wait and are retried "
                     "(logged once)",
                     "blindai-telemetry: the transport refused a batch (HTTP 400); its events are dropped (and "
                     "counted) (logged once)"]
